#!/usr/bin/env python3
"""Local AWS for `cutover serve`, in the emulator (moto_server), through boto3.

  local-aws.py setup  --endpoint URL --slack-api URL [--out FILE]
      creates the queue and its dead-letter queue, the rule that routes AWS events into the
      queue, Cutover's bus with a rule into a queue you can read, the CodeDeploy trigger
      topics (SNS envelope and raw delivery), and a CloudFront distribution; writes a
      `cutover serve` config for them.
  local-aws.py inject --endpoint URL FILE
      sends each line of FILE (a recorded SQS body) the way AWS would: PutEvents for an
      EventBridge event, SNS Publish for an SNS envelope's Message, raw-delivery Publish for
      a bare CodeDeploy trigger.
  local-aws.py emitted --endpoint URL
      prints (and removes) the events Cutover emitted on its bus.

Runs with the emulator's own interpreter: .venv-aws/bin/python scripts/local-aws.py ...
"""

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import boto3

REGION = "us-east-1"


def client(name, endpoint):
    return boto3.client(
        name, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def routes(distribution_id):
    """The demo's routing: production clusters and CodeDeploy applications to #deploys-prod,
    and an invalidation of the distribution at each production cut-over."""
    return f"""
[[routes]]
cluster = "prod-*"
environment = "production"
channel = "deploys-prod"

[[routes]]
application = "AppECS-prod-*"
environment = "production"
channel = "deploys-prod"

[[invalidations]]
environment = "production"
distribution_id = "{distribution_id}"
paths = ["/*"]
"""


def send(events, sns, line, wrapped_topic, raw_topic):
    """Sends one recorded SQS body the way AWS would: PutEvents for an EventBridge event,
    Publish for an SNS envelope's Message, raw-delivery Publish for a bare trigger. Returns
    False for a line that is not a JSON object."""
    try:
        v = json.loads(line)
    except json.JSONDecodeError:
        return False
    if not isinstance(v, dict):
        return False
    if "detail-type" in v:
        entry = {"Source": v["source"], "DetailType": v["detail-type"], "Detail": json.dumps(v["detail"]),
                 "Resources": v.get("resources", [])}
        if "time" in v:
            entry["Time"] = datetime.fromisoformat(v["time"].replace("Z", "+00:00")).astimezone(timezone.utc)
        events.put_events(Entries=[entry])
    elif "Type" in v:
        kwargs = {"TopicArn": wrapped_topic, "Message": v["Message"]}
        if v.get("Subject"):
            kwargs["Subject"] = v["Subject"]
        sns.publish(**kwargs)
    else:
        sns.publish(TopicArn=raw_topic, Message=line)
    return True


def setup(args):
    sqs, events, sns, cf = (client(n, args.endpoint) for n in ("sqs", "events", "sns", "cloudfront"))
    queue_url, queue_arn = queue(sqs, "cutover-events")
    dlq_url, _ = queue(sqs, "cutover-dead-letter")
    _, emitted_arn = queue(sqs, "emitted-by-cutover")
    events.put_rule(Name="aws-to-cutover", EventPattern=json.dumps({"source": ["aws.ecs", "aws.codedeploy", "aws.codepipeline"]}))
    events.put_targets(Rule="aws-to-cutover", Targets=[{"Id": "cutover", "Arn": queue_arn}])
    # Safe to run again: what exists already is kept (queues, rules, targets and topics are
    # idempotent in the API; a bus and a distribution are not).
    if not any(b["Name"] == "cutover" for b in events.list_event_buses().get("EventBuses", [])):
        events.create_event_bus(Name="cutover")
    events.put_rule(Name="cutover-out", EventBusName="cutover", EventPattern=json.dumps({"source": ["cutover"]}))
    events.put_targets(Rule="cutover-out", EventBusName="cutover", Targets=[{"Id": "out", "Arn": emitted_arn}])
    topic = sns.create_topic(Name="codedeploy-triggers")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    raw = sns.create_topic(Name="codedeploy-raw")["TopicArn"]
    sns.subscribe(TopicArn=raw, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    existing = [d["Id"] for d in cf.list_distributions().get("DistributionList", {}).get("Items", []) or []
                if d.get("Comment") == "cutover local"]
    dist = existing[0] if existing else cf.create_distribution(
        DistributionConfig={
            "CallerReference": "cutover-local",
            "Comment": "cutover local",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": "site.example.com",
                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "allow-all"},
        }
    )["Distribution"]["Id"]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    os.makedirs("target/local", exist_ok=True)
    config = f"""# Written by scripts/local-aws.py setup: cutover serve against the local emulator.
[slack]
channel = "deployments"
api_url = "{args.slack_api}"

[aws]
region = "{REGION}"
endpoint_url = "{args.endpoint}"

[sqs]
queue_url = "{queue_url}"
dead_letter_queue_url = "{dlq_url}"
wait_time_secs = 2

[eventbridge]
bus_name = "cutover"

[store]
path = "target/local/cutover.db"

[http]
listen = "127.0.0.1:8080"
{routes(dist)}"""
    with open(args.out, "w") as f:
        f.write(config)
    print(f"wrote {args.out} (queue {queue_url}, distribution {dist})")


def topic_arn(sns, name):
    return next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":" + name))


def inject(args):
    events, sns = client("events", args.endpoint), client("sns", args.endpoint)
    wrapped, raw = topic_arn(sns, "codedeploy-triggers"), topic_arn(sns, "codedeploy-raw")
    n = 0
    with open(args.file) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if send(events, sns, line, wrapped, raw):
                n += 1
            else:
                print(f"skipped a line that is not a JSON object: {line[:60]}", file=sys.stderr)
    print(f"injected {n} events from {args.file}")


def emitted(args):
    sqs = client("sqs", args.endpoint)
    url = sqs.get_queue_url(QueueName="emitted-by-cutover")["QueueUrl"]
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return
        for m in messages:
            e = json.loads(m["Body"])
            print(e["detail-type"], e["detail"]["deployment_id"], e["detail"]["at"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--slack-api", required=True)
    s.add_argument("--out", default="target/local/cutover.toml")
    i = sub.add_parser("inject")
    i.add_argument("--endpoint", required=True)
    i.add_argument("file")
    e = sub.add_parser("emitted")
    e.add_argument("--endpoint", required=True)
    args = p.parse_args()
    {"setup": setup, "inject": inject, "emitted": emitted}[args.command](args)


if __name__ == "__main__":
    main()
