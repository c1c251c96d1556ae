"""The CloudFormation template as data: a YAML loader that keeps the short-form intrinsics
(`!If`, `!Sub`, `!Ref`, …) as one-key mappings (`{"If": [...]}`), shared by the checks."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _tag)


def template():
    """infra/cloudformation/cutover.yaml, parsed."""
    return yaml.load((ROOT / "infra/cloudformation/cutover.yaml").read_text(), Loader=CfnLoader)
