#!/usr/bin/env python3
"""The Terraform module is the CloudFormation stack again: it parses (python-hcl2), reads the
same pattern files with file(), and declares the same resources (by type and count) with the
same key settings. Run with the checkov venv's python (it has python-hcl2 and PyYAML)."""

import pathlib
import re
import sys

import hcl2
from cfn_yaml import template

ROOT = pathlib.Path(__file__).resolve().parents[2]

# CloudFormation type -> Terraform type.
SAME = {
    "AWS::SQS::Queue": "aws_sqs_queue",
    "AWS::SQS::QueuePolicy": "aws_sqs_queue_policy",
    "AWS::Events::Rule": "aws_cloudwatch_event_rule",
    "AWS::Events::EventBusPolicy": "aws_cloudwatch_event_bus_policy",
    "AWS::Events::EventBus": "aws_cloudwatch_event_bus",
    "AWS::SNS::Topic": "aws_sns_topic",
    "AWS::SNS::Subscription": "aws_sns_topic_subscription",
    "AWS::DynamoDB::Table": "aws_dynamodb_table",
    "AWS::Logs::LogGroup": "aws_cloudwatch_log_group",
    "AWS::IAM::Role": "aws_iam_role",
    "AWS::ECS::Cluster": "aws_ecs_cluster",
    "AWS::ECS::TaskDefinition": "aws_ecs_task_definition",
    "AWS::ECS::Service": "aws_ecs_service",
    "AWS::CloudWatch::Alarm": "aws_cloudwatch_metric_alarm",
}


def scalar(value):
    """python-hcl2 wraps attribute values in one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value




def main():
    cfn = template()
    tf_text = ""
    resources = {}
    for tf in sorted((ROOT / "infra/terraform").glob("*.tf")):
        text = tf.read_text()
        tf_text += text
        parsed = hcl2.loads(text)
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    resources.setdefault(rtype.strip('"'), []).append((name.strip('"'), body))
    problems, checks = [], 0

    pattern_files = sorted(p.name for p in (ROOT / "event-schemas/patterns").glob("*.json"))
    read = sorted(set(re.findall(r'file\("\$\{local\.patterns_dir\}/([^"]+)"\)', tf_text)))
    checks += 1
    if read != pattern_files:
        problems.append(f"the module reads {read}, the patterns are {pattern_files}")

    cfn_counts = {}
    for r in cfn["Resources"].values():
        cfn_counts[r["Type"]] = cfn_counts.get(r["Type"], 0) + 1
    for cfn_type, count in cfn_counts.items():
        checks += 1
        tf_type = SAME.get(cfn_type)
        if tf_type is None:
            problems.append(f"{cfn_type} has no Terraform counterpart listed")
            continue
        tf_count = 0
        for _, body in resources.get(tf_type, []):
            # for_each over the rule patterns counts once per pattern.
            tf_count += len(pattern_files) if "for_each" in body and tf_type == "aws_cloudwatch_event_rule" else 1
        if tf_count != count:
            problems.append(f"{cfn_type}: {count} in CloudFormation, {tf_count} {tf_type} in Terraform")
    for tf_type in resources:
        checks += 1
        if tf_type not in SAME.values() and tf_type not in ("aws_cloudwatch_event_target", "aws_iam_role_policy", "aws_iam_role_policy_attachment"):
            problems.append(f"{tf_type} has no CloudFormation counterpart")

    queue = cfn["Resources"]["EventQueue"]["Properties"]
    tf_queue = dict(resources["aws_sqs_queue"])["events"]
    for cfn_key, tf_key in [("VisibilityTimeout", "visibility_timeout_seconds"), ("MessageRetentionPeriod", "message_retention_seconds")]:
        checks += 1
        if int(queue[cfn_key]) != int(scalar(tf_queue[tf_key])):
            problems.append(f"queue {cfn_key} {queue[cfn_key]} != {tf_key} {tf_queue[tf_key]}")
    checks += 1
    if f"maxReceiveCount     = {queue['RedrivePolicy']['maxReceiveCount']}" not in tf_text:
        problems.append("the redrive maxReceiveCount differs")

    for p in problems:
        print(f"FAIL {p}")
    print(f"{checks - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
