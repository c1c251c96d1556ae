#!/usr/bin/env python3
"""Structural checks of docker-compose.yml and the Dockerfile, for machines without the
compose plugin (scripts/test runs `docker compose config` instead where it exists): every
build target is a stage of the Dockerfile, every named volume is declared, every
depends_on names a service, files the stack mounts or runs exist, and the image runs as
non-root."""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I))
    services = compose.get("services", {})
    volumes = set((compose.get("volumes") or {}).keys())
    problems = []
    checks = 0
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict) and "target" in build:
            checks += 1
            if build["target"] not in stages:
                problems.append(f"{name}: build target {build['target']!r} is not a Dockerfile stage {sorted(stages)}")
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            checks += 1
            if not source.startswith((".", "/")) and source not in volumes:
                problems.append(f"{name}: volume {source!r} is not declared")
        for dep in (svc.get("depends_on") or {}):
            checks += 1
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep!r}")
    for path in ["scripts/local-aws.py", "infra/docker/cutover.toml", "examples/demo.jsonl"]:
        checks += 1
        if not (ROOT / path).exists():
            problems.append(f"missing {path}")
    checks += 1
    final = dockerfile.split("AS cutover", 1)[-1]
    if "USER nonroot" not in final:
        problems.append("the cutover image does not run as non-root")
    for p in problems:
        print(f"FAIL {p}")
    print(f"{checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
