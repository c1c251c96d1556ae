"""Measures whether the emulator's DynamoDB conditional writes are atomic: four threads race
an `UpdateItem` conditional on `version = 0`, many times; AWS lets exactly one win each race.

    .venv-aws/bin/python scripts/moto_race.py            # plain moto_server
    .venv-aws/bin/python scripts/moto_race.py --atomic   # scripts/moto_server_atomic.py

Prints how many races had more than one winner. Load the machine (e.g. `yes > /dev/null`
twice) to see the plain server's race; it needs threads switching mid-request.
"""

import argparse
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--atomic", action="store_true")
    parser.add_argument("--races", type=int, default=400)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    bin_dir = Path(sys.executable).parent
    cmd = (
        [sys.executable, str(HERE / "moto_server_atomic.py")]
        if args.atomic
        else [str(bin_dir / "moto_server")]
    )
    server = subprocess.Popen(
        cmd + ["-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def client():
            return boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="eu-west-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )

        ddb = client()
        ddb.create_table(
            TableName="race",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        clients = [client() for _ in range(args.writers)]
        doubled = 0
        for _ in range(args.races):
            ddb.put_item(TableName="race", Item={"pk": {"S": "x"}, "version": {"N": "0"}})
            winners = []
            barrier = threading.Barrier(args.writers)

            def write(c, i):
                barrier.wait()
                try:
                    c.update_item(
                        TableName="race",
                        Key={"pk": {"S": "x"}},
                        UpdateExpression="SET version = version + :one",
                        ConditionExpression="version = :zero",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
                    )
                    winners.append(i)
                except c.exceptions.ConditionalCheckFailedException:
                    pass

            threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            doubled += len(winners) > 1
        print(f"{'atomic' if args.atomic else 'plain'}: {doubled} of {args.races} races had more than one winner")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
