#!/usr/bin/env python3
"""Acting from Slack is opt-in in both stacks: every write call Cutover makes from Slack
(PutApprovalResult, StartPipelineExecution, ContinueServiceDeployment, StopServiceDeployment,
UpdateService, ContinueDeployment, StopDeployment) is granted only under a condition that needs
EnableActions (CloudFormation) / enable_actions (Terraform), on the resource patterns given,
never on "*"; and the Slack app manifest in infra/slack/ names what Cutover serves. Run with the checkov venv's python (it has python-hcl2 and PyYAML)."""

import pathlib
import re
import sys

import yaml
from cfn_yaml import template

ROOT = pathlib.Path(__file__).resolve().parents[2]
WRITES = [
    "codepipeline:PutApprovalResult",
    "codepipeline:StartPipelineExecution",
    "ecs:ContinueServiceDeployment",
    "ecs:StopServiceDeployment",
    "ecs:UpdateService",
    "codedeploy:ContinueDeployment",
    "codedeploy:StopDeployment",
]




def needs(conditions, name, seen=()):
    """Whether condition `name` can only hold when ActionsOn does."""
    if name == "ActionsOn":
        return True
    body = conditions.get(name)
    if isinstance(body, dict) and "And" in body:
        return any(isinstance(c, dict) and "Condition" in c and needs(conditions, c["Condition"]) for c in body["And"])
    return False


def statements(policy_statements, guard=None):
    """(statement, condition guarding it) of a Statement list with !If entries."""
    for s in policy_statements:
        if isinstance(s, dict) and "If" in s:
            cond, then, _ = s["If"]
            yield then, cond
        else:
            yield s, guard


def main():
    problems, checks = [], 0
    cfn = template()
    conditions = cfn["Conditions"]
    checks += 1
    if cfn["Parameters"]["EnableActions"].get("Default") != "false":
        problems.append("EnableActions must default to false")
    granted = set()
    for rname, r in cfn["Resources"].items():
        if r["Type"] != "AWS::IAM::Role":
            continue
        for p in r["Properties"].get("Policies", []):
            for s, cond in statements(p["PolicyDocument"]["Statement"]):
                if not isinstance(s, dict):
                    continue
                actions = s.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                for a in actions:
                    if a in WRITES:
                        checks += 1
                        granted.add(a)
                        if cond is None or not needs(conditions, cond):
                            problems.append(f"{rname}: {a} is granted without EnableActions")
                        if s.get("Resource") == "*":
                            problems.append(f"{rname}: {a} is granted on *")
    checks += 1
    if granted != set(WRITES):
        problems.append(f"CloudFormation grants {sorted(granted)}, acting needs {WRITES}")

    tf = (ROOT / "infra/terraform/main.tf").read_text()
    for a in WRITES:
        checks += 1
        # Each write appears in a block that starts with `var.enable_actions && …? [`.
        m = re.search(r'var\.enable_actions && [^\n]*\? \[\n(?:(?!\] : \[\]).)*"' + re.escape(a) + '"', tf, re.S)
        if not m:
            problems.append(f"Terraform: {a} is not granted under var.enable_actions")
        if tf.count(f'"{a}"') != 1:
            problems.append(f"Terraform: {a} appears {tf.count(chr(34) + a + chr(34))} times")
    checks += 1
    if not re.search(r'variable "enable_actions" \{[^}]*default\s*=\s*false', (ROOT / "infra/terraform/variables.tf").read_text()):
        problems.append("enable_actions must default to false")

    # The Slack app's manifest: Socket Mode (the default transport), or the request URLs
    # Cutover serves ([slack.actions] path's default); the scopes of the calls it makes.
    manifest = yaml.safe_load((ROOT / "infra/slack/manifest.yaml").read_text())
    socket = manifest["settings"].get("socket_mode_enabled")
    checks += 1
    if socket is not True:
        problems.append("manifest: Socket Mode, Cutover's default transport, must be on")
    checks += 1
    commands = manifest["features"]["slash_commands"]
    if [c["command"] for c in commands] != ["/cutover"]:
        problems.append(f"manifest: the slash command must be /cutover: {commands}")
    # A request URL, where one is given, is the one Cutover serves (commented out with Socket Mode).
    text = (ROOT / "infra/slack/manifest.yaml").read_text()
    for key, path in (("url", "/slack/commands"), ("request_url", "/slack/interactions")):
        checks += 1
        urls = re.findall(r"^\s*#?\s*" + key + r": (\S+)$", text, re.M)
        if len(urls) != 1 or not urls[0].endswith(path):
            problems.append(f"manifest: {key} must be <host>{path}: {urls}")
    checks += 1
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    used = {"chat:write", "channels:history", "groups:history", "commands", "usergroups:read"}
    if scopes != used:
        problems.append(f"manifest: scopes {sorted(scopes)}, Cutover uses {sorted(used)}")

    for p in problems:
        print(f"FAIL {p}")
    print(f"{checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
