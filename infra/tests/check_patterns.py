#!/usr/bin/env python3
"""The CloudFormation template's EventBridge rules use exactly the patterns in
event-schemas/patterns/*.json: one rule per file, the same pattern, nothing else.
Run with the emulator venv's python (cfn-lint's decoder reads the !Ref/!GetAtt tags)."""

import json
import pathlib
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plain(node):
    """cfn-lint's node types → plain JSON values."""
    return json.loads(json.dumps(node))


def main():
    template, errors = decode(str(ROOT / "infra/cloudformation/cutover.yaml"))
    if errors:
        print(f"cannot read the template: {errors}")
        return 1
    in_template = {}
    for name, resource in template["Resources"].items():
        # The rules on the source bus carry the patterns; the receipts rule on Cutover's own
        # bus matches Cutover's events and is not one of them.
        bus = resource.get("Properties", {}).get("EventBusName")
        on_source_bus = plain(bus) == {"Ref": "SourceEventBusName"} if bus is not None else False
        if resource.get("Type") == "AWS::Events::Rule" and on_source_bus:
            in_template[name] = canonical(plain(resource["Properties"]["EventPattern"]))
    files = {p.name: canonical(json.loads(p.read_text())) for p in sorted((ROOT / "event-schemas/patterns").glob("*.json"))}
    failed = 0
    for file, pattern in files.items():
        rules = [r for r, p in in_template.items() if p == pattern]
        if len(rules) != 1:
            print(f"FAIL {file}: used by {len(rules)} rules of the template (want exactly one)")
            failed += 1
    for rule, pattern in in_template.items():
        if pattern not in files.values():
            print(f"FAIL rule {rule}: its pattern is not one of event-schemas/patterns/*.json")
            failed += 1
    passed = len(files) + len(in_template) - failed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
