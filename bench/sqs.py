"""The SQS endpoint through boto3, beside moto_server in the same run.

Two rows per system, each `--messages` messages of 100 bytes through one boto3 client
(the JSON protocol, as boto3 speaks it by default), in a process of its own:

- SendMessageBatch: batches of 10;
- ReceiveMessage(10) + DeleteMessageBatch: until every message is received and deleted.

Systems: Disqueue on its durable default (SQLite, `sync: full`), Disqueue in memory, and
moto_server (in memory, the usual SQS stand-in of tests). Rounds alternate system by
system; each figure is the median of `--rounds`. The last column is the ratio to moto.

Run alone: .venv/bin/python bench/sqs.py [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from procs import free_port, running, worker_result

BENCH = Path(__file__).resolve().parent
BODY = "m" * 100


def _load(url: str, messages: int) -> dict[str, float]:
    import boto3
    from botocore.config import Config

    sqs = boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )
    queue = sqs.create_queue(QueueName=f"bench-{os.getpid()}-{time.time_ns()}")["QueueUrl"]
    started = time.perf_counter()
    for first in range(0, messages, 10):
        entries = [{"Id": str(i), "MessageBody": BODY} for i in range(min(10, messages - first))]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    send = messages / (time.perf_counter() - started)
    started, done = time.perf_counter(), 0
    while done < messages:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        batch = got.get("Messages", [])
        if batch:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ]
            sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
            done += len(batch)
    receive = messages / (time.perf_counter() - started)
    sqs.delete_queue(QueueUrl=queue)
    return {"send": send, "receive": receive}


@contextlib.contextmanager
def _disqueue(storage: str) -> Iterator[str]:
    (BENCH / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BENCH / "results") as folder:
        port = free_port()
        config = {
            "servers": [{"hostname": "127.0.0.1", "port": port}],
            "storage": {"type": storage},
            "sqs": {},
        }
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        cmd = [sys.executable, "-m", "disqueue", "-c", str(path)]
        with running(cmd, f"http://127.0.0.1:{port}/health"):
            yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running(cmd, f"http://127.0.0.1:{port}/moto-api/"):
        yield f"http://127.0.0.1:{port}"


SYSTEMS = {
    "Disqueue, SQLite (sync: full)": lambda: _disqueue("sqlite"),
    "Disqueue, memory": lambda: _disqueue("memory"),
    "moto_server (memory)": _moto,
}


def _round(label: str, messages: int) -> dict[str, float]:
    with SYSTEMS[label]() as url:
        cmd = [sys.executable, str(Path(__file__)), "--worker", url, str(messages)]
        return worker_result(cmd, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(_load(args.worker[0], int(args.worker[1]))), flush=True)
        return
    labels = list(SYSTEMS)
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in labels}
    for number in range(args.rounds):
        for label in labels if number % 2 == 0 else labels[::-1]:
            result = _round(label, args.messages)
            runs[label].append(result)
            print(f"round {number + 1} {label}: {json.dumps(result)}", flush=True)
    medians = {
        label: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for label, rs in runs.items()
    }
    moto = medians["moto_server (memory)"]
    print(
        f"\n{args.messages} messages of 100 bytes, one boto3 client, "
        f"median of {args.rounds} rounds\n"
    )
    print(
        "| system | SendMessageBatch (10) msgs/s "
        "| ReceiveMessage(10) + DeleteMessageBatch msgs/s | vs moto (send / receive) |"
    )
    print("|---|---|---|---|")
    for label in labels:
        m = medians[label]
        print(
            f"| {label} | {m['send']:,.0f} | {m['receive']:,.0f} | "
            f"{m['send'] / moto['send']:.2f}x / {m['receive'] / moto['receive']:.2f}x |"
        )


if __name__ == "__main__":
    main()
