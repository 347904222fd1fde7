#!/usr/bin/env python3
"""The seed incident's job on real Spark Structured Streaming (PySpark, local mode).

Queries in one driver, as in the incident:
- `bronze`: the telemetry topic appended to the bronze table;
- `domain_<name>` (LF_DOMAINS of them, 2 by default): the telemetry topic appended to a table per
  domain;
- `resolver`: the alert-events topic MERGEd into the alerts table (upsert by id), where another
  job (loudfail's ML writer, under the `concurrent-writer` fault) appends too. A MERGE whose
  snapshot that job appended to fails with delta-rs's commit conflict: the seed incident's
  ConcurrentAppendException.

The driver awaits its queries the way LF_AWAIT says (see lfspark.await_queries), the resolver
last: under `each` the main blocks on bronze, and a dead resolver is never noticed.

Kafka is read by the Python Data Source in kafka_source.py; Delta is written with delta-rs
(`deltalake`) from `foreachBatch`, exactly once (lfspark.delta_sink).

Its environment, beyond lfspark's:
  LF_TELEMETRY, LF_ALERT_EVENTS   the topics
  LF_TABLE_BRONZE, LF_TABLE_DOMAIN_<NAME>, LF_TABLE_ALERTS   the tables' locations
  LF_DOMAINS   number of domain queries (default 2)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lfspark  # noqa: E402

RECORD = "id long, ts long, device string, reading double"
EVENT = "id long, ts long, alert string, state string"


def table(name):
    return os.environ[f"LF_TABLE_{name.upper()}"]


def main():
    policy = lfspark.await_policy()
    domains = ["temperature", "pressure", "humidity", "vibration", "voltage", "flow"][: int(os.environ.get("LF_DOMAINS", "2"))]
    spark = lfspark.session("spark-telemetry")
    telemetry = os.environ["LF_TELEMETRY"]
    start, kafka, sink = lfspark.start, lfspark.kafka, lfspark.delta_sink
    queries = [start("bronze", kafka(spark, telemetry, RECORD), sink(table("bronze"), "bronze"))]
    for d in domains:
        name = f"domain_{d}"
        queries.append(start(name, kafka(spark, telemetry, RECORD), sink(table(name), name)))
    events = kafka(spark, os.environ["LF_ALERT_EVENTS"], EVENT)
    queries.append(start("resolver", events, sink(table("alerts"), "resolver", merge=True)))
    lfspark.await_queries(spark, queries, policy)


if __name__ == "__main__":
    lfspark.run("spark-telemetry", main)
