#!/usr/bin/env python3
"""A streaming pipeline loudfail knows nothing about: a Kafka topic into a Delta table.

Written the way a team writes one with confluent-kafka and deltalake (delta-rs's own Python
bindings), exactly once by the txn idiom kafka-delta-ingest uses: every Delta commit carries,
for each partition it wrote, a txn action (app id "<app>-<partition>", version = the last offset
written). On start the program reads those versions back and resumes after them, so a batch
that landed before a crash is never written again. delta-rs accepts a stale txn version without
complaint, so the program checks it itself before each write.

Everything it needs comes from its environment (loudfail fills these in from the spec):
  LF_BOOTSTRAP  Kafka bootstrap servers     LF_TOPIC  the topic
  LF_TABLE      the Delta table's location  LF_GROUP  a consumer group (LF_DEFECT=no-txn, offsets-first)
  LF_APP_ID     txn app id prefix (default "ingest")
  LF_EVENTS     a file to write what it says about itself (optional; no verdict depends on it)

A fatal error ends the program with a non-zero exit: that is all it takes to be loud.

LF_DEFECT plants a realistic defect, so each of loudfail's verdicts can be shown:
  swallow-write-errors  a failed write is logged and the batch dropped: records are lost
  no-txn                appends without txn; progress kept as committed consumer-group offsets,
                        committed after the write: a crash between the two duplicates a batch
  offsets-first         as no-txn, but the offsets are committed before the write (at most
                        once): a crash between the two loses a batch
  retry-forever         a failed write is retried in place, forever: alive, silent, stuck
  exit-zero             a failed write ends the program with exit code 0, as if the stream had
                        finished: nothing in a jobs UI turns red
  strict-schema         writes without schema evolution: a record with a new field fails every
                        write from then on
  no-dead-letters       a record that is not JSON fails the program, at every start
  deadlock              8 s after it starts it stops consuming, for good: alive, no fault
                        needed, nothing lands (a lock taken twice, a thread waiting on itself)
"""

import json
import os
import sys
import threading
import time

import pyarrow as pa
from confluent_kafka import Consumer, KafkaException, TopicPartition
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

BATCH_SECONDS = 0.2
MAX_RECORDS = 2000
DEADLOCK_AFTER = 8.0


def log(msg):
    print(f"pipeline: {msg}", file=sys.stderr, flush=True)


def say(event, **fields):
    """A line in the events file, when loudfail gave one (LF_EVENTS): what we say about ourselves.
    loudfail keeps it in its history for people to read; no verdict depends on it."""
    path = os.environ.get("LF_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "query": "ingest", **fields}) + "\n")


def table_or_none(location):
    try:
        return DeltaTable(location)
    except Exception:  # no table there yet: the first write creates it
        return None


def written_offsets(location, app, partitions):
    """Partition -> last offset the table holds, from its txn actions."""
    table = table_or_none(location)
    if table is None:
        return {}
    out = {}
    for p in partitions:
        v = table.transaction_version(f"{app}-{p}")
        if v is not None:
            out[p] = v
    return out


def commit_offsets(consumer, topic, last):
    """Records in the consumer group that every record up to `last` (partition -> offset) is done."""
    consumer.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in last.items()], asynchronous=False)


def main():
    bootstrap = os.environ["LF_BOOTSTRAP"]
    topic = os.environ["LF_TOPIC"]
    location = os.environ["LF_TABLE"]
    app = os.environ.get("LF_APP_ID", "ingest")
    defect = os.environ.get("LF_DEFECT", "")
    if defect not in (
        "",
        "swallow-write-errors",
        "no-txn",
        "offsets-first",
        "retry-forever",
        "exit-zero",
        "strict-schema",
        "no-dead-letters",
        "deadlock",
    ):
        log(f"unknown LF_DEFECT {defect!r}")
        return 2

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": os.environ.get("LF_GROUP", f"{app}-group"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "broker.address.family": "v4",
        }
    )
    meta = consumer.list_topics(topic, timeout=10)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        log(f"topic {topic} not found")
        return 1
    partitions = sorted(meta.topics[topic].partitions)

    in_group = defect in ("no-txn", "offsets-first")
    if in_group:
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        start = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
    else:
        start = {p: v + 1 for p, v in written_offsets(location, app, partitions).items()}
    consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in partitions])
    log(f"started: {topic} -> {location}, from {start or 'the beginning'}{' [' + defect + ']' if defect else ''}")
    say("query_started")

    started = time.monotonic()
    while True:
        if defect == "deadlock" and time.monotonic() - started > DEADLOCK_AFTER:
            log("deadlocked: alive, consuming nothing")
            threading.Event().wait()
        messages = consumer.consume(num_messages=MAX_RECORDS, timeout=BATCH_SECONDS)
        rows, last = [], {}
        for m in messages:
            if m.error() is not None:
                # librdkafka recovers from consumer errors by itself (a fetch that timed out, a
                # leader that moved): they are news, not failures. Only a fatal one ends us.
                if m.error().fatal():
                    raise KafkaException(m.error())
                log(f"consumer: {m.error()}")
                continue
            try:
                record = json.loads(m.value())
            except ValueError as e:
                # A record it cannot read goes to the dead letters, with where it came from;
                # the stream goes on.
                if defect == "no-dead-letters":
                    raise
                log(f"dead letter: partition {m.partition()} offset {m.offset()}: {e}: {m.value()[:80]!r}")
                continue
            record["partition"] = m.partition()
            record["offset"] = m.offset()
            rows.append(record)
            last[m.partition()] = max(last.get(m.partition(), -1), m.offset())
        if not rows:
            continue
        if not in_group:
            # delta-rs does not enforce txn versions: skip what the table already holds.
            done = written_offsets(location, app, sorted(last))
            rows = [r for r in rows if r["offset"] > done.get(r["partition"], -1)]
            last = {p: o for p, o in last.items() if o > done.get(p, -1)}
            if not rows:
                continue
            commit = CommitProperties(app_transactions=[Transaction(f"{app}-{p}", o) for p, o in last.items()])
        else:
            commit = None
        if defect == "offsets-first":
            commit_offsets(consumer, topic, last)
        data = pa.Table.from_pylist(rows)
        while True:
            try:
                schema_mode = None if defect == "strict-schema" else "merge"
                write_deltalake(location, data, mode="append", schema_mode=schema_mode, commit_properties=commit)
                break
            # delta-rs raises some failures as a PanicException, which is no Exception.
            except BaseException as e:  # noqa: BLE001 - each defect handles a failed write its own way
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                if defect == "swallow-write-errors":
                    log(f"write failed, batch dropped: {e}")
                    break
                if defect == "retry-forever":
                    log(f"write failed, retrying: {e}")
                    time.sleep(BATCH_SECONDS)
                    continue
                log(f"write failed: {e}")
                say("query_terminated", error=str(e), error_kind=type(e).__name__)
                return 0 if defect == "exit-zero" else 1
        say("progress", rows=len(rows))
        if defect == "no-txn":
            commit_offsets(consumer, topic, last)


if __name__ == "__main__":
    sys.exit(main())
