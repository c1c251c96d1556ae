#!/usr/bin/env python3
"""The whole product on this machine, no AWS account, no Docker (run it through scripts/demo):

1. starts the AWS emulator (moto_server) on a free 127.0.0.1 port;
2. deploys infra/cloudformation/cutover.yaml into it, and creates through the API what the
   emulator's CloudFormation skips (the SNS subscription, the CloudFront distribution);
3. starts the Slack stand-in, the stand-ins of the sinks' APIs (GitHub, Grafana, PagerDuty, a
   signed webhook) and `cutover serve` with the embedded SQLite store;
4. plays CI's deploy annotation of storefront v123 (its commit), a recorded ECS rolling
   deployment (into EventBridge, through the stack's rules) and a CodeDeploy blue/green
   deployment (into the stack's trigger topic, as SNS delivers them);
5. shows the Slack feed, the CloudFront invalidations, the events Cutover emitted and what each
   sink was told;
6. stops everything it started.
"""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import importlib.util

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("local_aws", ROOT / "scripts/local-aws.py")
local_aws = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(local_aws)
SCENARIOS = [("rolling", "EventBridge"), ("codedeploy-sns", "SNS")]
# The sinks' credentials, shared by the stand-ins (which check them) and cutover (which sends them).
SINK_TOKENS = {"GITHUB_TOKEN": "github_pat_demo", "GRAFANA_TOKEN": "glsa_demo", "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEYDEMO",
               "WEBHOOK_SECRET": "demo-webhook-secret"}
COMMIT = "9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3"
# What `cutover annotate` puts on the default bus when GitHub Actions deploys storefront v123.
ANNOTATION = {"source": "cutover.annotate", "detail-type": "Cutover Deploy Annotation", "time": "2026-03-14T09:29:50Z",
              "resources": [], "detail": {"cluster": "prod-eu", "service": "storefront", "image_tag": "v123",
                                          "commit": COMMIT, "repository": "https://github.com/example/storefront"}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return {n: boto3.client(n, **kw) for n in ("cloudformation", "sqs", "sns", "events", "cloudfront", "secretsmanager")}


def deploy(aws):
    secret = aws["secretsmanager"].create_secret(Name="cutover/slack", SecretString="xoxb-demo-token")["ARN"]
    aws["cloudformation"].create_stack(
        StackName="cutover",
        TemplateBody=(ROOT / "infra/cloudformation/cutover.yaml").read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "ContainerImage", "ParameterValue": "cutover:local"},
            {"ParameterKey": "SlackTokenSecretArn", "ParameterValue": secret},
            {"ParameterKey": "SubnetIds", "ParameterValue": "subnet-0123456789abcdef0"},
            {"ParameterKey": "SecurityGroupIds", "ParameterValue": "sg-0123456789abcdef0"},
        ],
    )
    for _ in range(120):
        stack = aws["cloudformation"].describe_stacks(StackName="cutover")["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.25)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise SystemExit(f"stack {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    sqs = aws["sqs"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # What the emulator's CloudFormation skips, created as the template declares it.
    aws["sns"].subscribe(TopicArn=out["CodeDeployTriggersTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    dist = aws["cloudfront"].create_distribution(DistributionConfig={
        "CallerReference": "cutover-demo", "Comment": "storefront", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": "shop.example.com",
                    "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "allow-all"},
    })["Distribution"]["Id"]
    # A subscriber to Cutover's bus, so the demo can show what it emitted.
    watch_url = sqs.create_queue(QueueName="demo-subscriber")["QueueUrl"]
    watch_arn = sqs.get_queue_attributes(QueueUrl=watch_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = out["EventBusArn"].split("/")[-1]
    aws["events"].put_rule(Name="demo-subscriber", EventBusName=bus, EventPattern=json.dumps({"source": ["cutover"]}))
    aws["events"].put_targets(Rule="demo-subscriber", EventBusName=bus, Targets=[{"Id": "demo", "Arn": watch_arn}])
    return out, dist, watch_url


def sinks(base):
    """The demo's sinks, each on its stand-in: GitHub deployments for storefront, Grafana
    annotations and PagerDuty change events for production, a signed webhook of the cut-overs."""
    return f"""
[[sinks]]
name = "github"
kind = "github"
url = "{base}/github"
service = "storefront"
token_env = "GITHUB_TOKEN"
environment_url = "https://{{environment}}.example.com"

[[sinks]]
name = "grafana"
kind = "grafana"
url = "{base}/grafana"
environment = "production"
token_env = "GRAFANA_TOKEN"

[[sinks]]
name = "pagerduty"
kind = "pagerduty"
url = "{base}/pagerduty"
environment = "production"
token_env = "PAGERDUTY_ROUTING_KEY"

[[sinks]]
name = "deploy-hook"
kind = "webhook"
url = "{base}/webhook/deploys"
events = ["Deployment Cut Over"]
token_env = "WEBHOOK_SECRET"
"""


def config(path, endpoint, out, dist, slack_port, health_port, state_dir, sinks_base):
    path.write_text(f"""[slack]
channel = "deployments"
api_url = "http://127.0.0.1:{slack_port}/api"
messages_per_second = 20.0
# The local stand-in does not limit rates: the feed shows every message's final state at once.
updates_per_minute = 1200.0

[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"

[sqs]
queue_url = "{out['QueueUrl']}"
dead_letter_queue_url = "{out['DeadLetterQueueUrl']}"
wait_time_secs = 1

[eventbridge]
bus_name = "{out['EventBusArn']}"

[store]
path = "{state_dir / 'cutover.db'}"

[http]
listen = "127.0.0.1:{health_port}"

{local_aws.routes(dist)}
{sinks(sinks_base)}""")


def inject(aws, topic):
    local_aws.send(aws["events"], aws["sns"], json.dumps(ANNOTATION), topic, topic)
    print("  played CI's deploy annotation of storefront v123 (commit %s) into EventBridge" % COMMIT[:7])
    for name, path in SCENARIOS:
        for line in (ROOT / "tests/scenarios" / name / "input.jsonl").read_text().splitlines():
            if line.strip():
                local_aws.send(aws["events"], aws["sns"], line, topic, topic)
        print(f"  played tests/scenarios/{name} into {path}")


def expected_events():
    n = 0
    for name, _ in SCENARIOS:
        n += len(json.loads((ROOT / "tests/scenarios" / name / "expected.json").read_text())["lifecycle"])
    return n


def sink_calls(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_control/calls") as r:
        return json.load(r)


def sinks_done(calls):
    """Every sink got its cut-overs: GitHub's success status, one PagerDuty change event and
    one webhook delivery per production cut-over (2), Grafana's point annotations."""
    ok = [c for c in calls if 200 <= c["status"] < 300]
    github = any(c["api"] == "github" and c["body"].get("state") == "success" for c in ok)
    count = lambda api: sum(1 for c in ok if c["api"] == api and c["method"] == "POST")
    grafana = sum(1 for c in ok if c["api"] == "grafana" and "cut-over" in c["body"].get("tags", []))
    return github and count("pagerduty") >= 2 and count("webhook") >= 2 and grafana >= 2


def describe(call):
    b = call["body"]
    what = {"github": b.get("state") or b.get("ref") or b.get("environment"),
            "grafana": ", ".join(t for t in b.get("tags", []) if not t.startswith("cluster:")) or b.get("text"),
            "pagerduty": b.get("payload", {}).get("summary"),
            "webhook": call["headers"].get("x-cutover-event")}.get(call["api"], "")
    return f"   {call['api']:<10} {call['method']:<5} {call['path']:<46} {call['status']}  {what or ''}"


def drain(sqs, url):
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def main():
    bins = ROOT / os.environ.get("CUTOVER_BIN_DIR", "target/debug")
    moto_bin = ROOT / ".venv-aws/bin/moto_server"
    started = []
    work = pathlib.Path(tempfile.mkdtemp(prefix="cutover-demo-"))
    t0 = time.time()
    try:
        moto_port, slack_port, health_port, sinks_port = free_port(), free_port(), free_port(), free_port()
        endpoint = f"http://127.0.0.1:{moto_port}"
        started.append(subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"{endpoint}/moto-api/", 15)
        print(f"1. AWS emulator on {endpoint}")
        aws = clients(endpoint)
        out, dist, watch_url = deploy(aws)
        print("2. deployed infra/cloudformation/cutover.yaml (queue, dead-letter queue, 6 rules, trigger topic, bus, ...)")
        started.append(subprocess.Popen([bins / "slack-standin", "--port", str(slack_port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        started.append(subprocess.Popen([bins / "sink-standins", "--port", str(sinks_port)],
                                        env=dict(os.environ, GITHUB_REPOS="example/storefront", **SINK_TOKENS),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{sinks_port}/_control/calls", 15)
        config(work / "cutover.toml", endpoint, out, dist, slack_port, health_port, work, f"http://127.0.0.1:{sinks_port}")
        env = dict(os.environ, SLACK_BOT_TOKEN="xoxb-demo-token", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   RUST_LOG="warn", **SINK_TOKENS)
        env.pop("AWS_ENDPOINT_URL", None)
        log = open(work / "cutover.log", "w")
        serve = subprocess.Popen([bins / "cutover", "serve", "--config", work / "cutover.toml"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log)
        started.append(serve)
        wait_http(f"http://127.0.0.1:{health_port}/readyz", 20)
        print(f"3. Slack stand-in on http://127.0.0.1:{slack_port}/, sink stand-ins on http://127.0.0.1:{sinks_port}/ "
              "and cutover serve (SQLite store) running")
        print("4. playing recorded deployments the way AWS sends them:")
        inject(aws, out["CodeDeployTriggersTopicArn"])
        want, emitted = expected_events(), []
        deadline = time.time() + 40
        while len(emitted) < want and time.time() < deadline:
            emitted += drain(aws["sqs"], watch_url)
            time.sleep(0.2)
        while not sinks_done(sink_calls(sinks_port)) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        emitted += drain(aws["sqs"], watch_url)
        calls = sink_calls(sinks_port)

        print("5. what Cutover did\n\n   Slack feed:")
        with urllib.request.urlopen(f"http://127.0.0.1:{slack_port}/_control/messages") as r:
            messages = json.load(r)
        for m in (m for m in messages if not m.get("thread_ts")):
            print(f"   #{m['channel']:<13} {m['text']}   (updated {m['updates']}x)")
            for reply in (r for r in messages if r.get("thread_ts") == m["ts"] and r["channel"] == m["channel"]):
                print(f"   {'':14}  └ {reply['text']}")
        print("\n   CloudFront invalidations:")
        for inv in aws["cloudfront"].list_invalidations(DistributionId=dist)["InvalidationList"].get("Items", []):
            got = aws["cloudfront"].get_invalidation(DistributionId=dist, Id=inv["Id"])["Invalidation"]
            batch = got["InvalidationBatch"]
            print(f"   {inv['Id']}  {batch['Paths']['Items']}  caller reference {batch['CallerReference']}")
        print("\n   Events emitted on Cutover's bus:")
        for e in sorted(emitted, key=lambda e: e["detail"]["at"]):
            d = e["detail"]
            print(f"   {d['at']}  {e['detail-type']:<26} {d['deployment_id']}  {d.get('service') or ''} {d.get('version') or ''}")
        print("\n   What the sinks were told (docs/sinks.md), in order:")
        for c in sorted(calls, key=lambda c: c["received_at_us"]):
            print(describe(c))
        print(f"\n6. done in {time.time() - t0:.1f} s; stopping everything")
        ok = len(emitted) >= want and sinks_done(calls)
        if len(emitted) < want:
            print(f"expected {want} lifecycle events, saw {len(emitted)}; log: {work / 'cutover.log'}", file=sys.stderr)
        if not sinks_done(calls):
            print("a sink did not get its cut-overs (see above)", file=sys.stderr)
        if not ok:
            log.flush()
            print("cutover's log, last lines:\n" + "".join((work / "cutover.log").read_text().splitlines(True)[-30:]),
                  file=sys.stderr)
        return 0 if ok else 1
    finally:
        for p in reversed(started):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(started):
            try:
                p.wait(timeout=25)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
