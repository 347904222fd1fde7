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

The driver awaits its queries the way LF_AWAIT says:
- `each`: `q.awaitTermination()` for each query in order, the resolver last (the incident:
  the main blocks on bronze, and a dead resolver is never noticed);
- `any`: `spark.streams.awaitAnyTermination()` (the band-aid: the first failure ends the driver
  with a non-zero exit, and the job restarts it).

Kafka is read by the Python Data Source in kafka_source.py; Delta is written with delta-rs
(`deltalake`) from `foreachBatch`, exactly once: each commit carries a txn action (app id = the
query, version = the batch id), and a batch whose version the table already holds is skipped
(a replay after a crash between the Delta commit and Spark's own commit log).

Everything it needs comes from its environment (loudfail fills it in from the spec):
  LF_BOOTSTRAP, LF_TELEMETRY, LF_ALERT_EVENTS   Kafka servers and topics
  LF_TABLE_BRONZE, LF_TABLE_DOMAIN_<NAME>, LF_TABLE_ALERTS   the tables' locations
  LF_CHECKPOINT   the checkpoint root (one directory per query)
  LF_AWAIT    each | any        LF_DOMAINS   number of domain queries (default 2)
  LF_TRIGGER  trigger interval  LF_EVENTS    where to write query events (optional)
  LF_CLUSTER_PORT   a Spark Connect server's port: run as its client (empty: local mode)
  LF_CONNECT_RETRIES   the Connect client's retries of an unreachable server (default: its
                       own policy, about 10 minutes)
"""

import json
import os
import socket
import sys
import threading
import time

# Spark's Python workers must run this venv's Python: without it the source's worker fails
# (No module named 'pyarrow', only in the log) and the query hangs.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake  # noqa: E402
from pyspark.sql import SparkSession, functions as F  # noqa: E402
from pyspark.sql.streaming import StreamingQueryListener  # noqa: E402

from kafka_source import KafkaSource  # noqa: E402

SPARK = None  # the driver's session, once it has one

RECORD = "id long, ts long, device string, reading double"
EVENT = "id long, ts long, alert string, state string"


def log(msg):
    print(f"spark-telemetry: {msg}", file=sys.stderr, flush=True)


def say(event, **fields):
    """A line in the events file (LF_EVENTS), when there is one: what the driver says about itself.
    No verdict depends on it."""
    path = os.environ.get("LF_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "at_us": int(time.time() * 1e6), **fields}) + "\n")


class Listener(StreamingQueryListener):
    """Spark's own account of its queries, written to the events file. The listener bus is
    asynchronous: a driver that leaves right after a failure may never write the last one."""

    def onQueryStarted(self, event):
        say("query_started", query=event.name)

    def onQueryProgress(self, event):
        p = event.progress
        say("query_progress", query=p.name, batch=p.batchId, rows=p.numInputRows)

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        say("query_terminated", query=str(event.id), error=event.exception, error_class=event.errorClassOnException)


def table_or_none(location):
    try:
        return DeltaTable(location)
    except Exception:  # no table there yet: the first write creates it
        return None


def delta_sink(location, app_id, merge=False):
    """A foreachBatch function writing each micro-batch to the Delta table at `location`, exactly
    once: a txn action (app_id, batch id) per commit, and a batch the table already holds skipped.
    delta-rs accepts a stale txn version without complaint, so the check is ours."""

    def write(df, batch_id):
        table = table_or_none(location)
        done = table.transaction_version(app_id) if table is not None else None
        if done is not None and done >= batch_id:
            log(f"{app_id}: batch {batch_id} is already in the table; skipped")
            return
        data = df.toArrow()
        props = CommitProperties(app_transactions=[Transaction(app_id, batch_id)])
        if merge and table is not None:
            (
                table.merge(
                    source=data,
                    predicate="t.id = s.id",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=props,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        else:
            write_deltalake(location, data, mode="append", schema_mode="merge", commit_properties=props)

    return write


def table(name):
    return os.environ[f"LF_TABLE_{name.upper()}"]


def main():
    bootstrap = os.environ["LF_BOOTSTRAP"]
    checkpoints = os.environ["LF_CHECKPOINT"]
    await_policy = os.environ.get("LF_AWAIT", "any")
    domains = ["temperature", "pressure", "humidity", "vibration", "voltage", "flow"][: int(os.environ.get("LF_DOMAINS", "2"))]
    trigger = os.environ.get("LF_TRIGGER", "1 second")
    if await_policy not in ("each", "any"):
        log(f"LF_AWAIT must be each or any, not {await_policy!r}")
        sys.exit(2)

    global SPARK
    remote = os.environ.get("LF_CLUSTER_PORT", "")
    if remote:
        # A client of the shared cluster (a Spark Connect server): its queries run there.
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{remote}").getOrCreate()
        retries = os.environ.get("LF_CONNECT_RETRIES", "")
        if retries:
            # The client's default policy retries an unreachable server for about 10 minutes;
            # with a few retries a lost driver is an error within seconds.
            from pyspark.sql.connect.client.retries import DefaultPolicy

            spark.client.set_retry_policies([DefaultPolicy(max_retries=int(retries), max_backoff=2000)])
    else:
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("spark-telemetry")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
    SPARK = spark
    spark.dataSource.register(KafkaSource)
    spark.streams.addListener(Listener())

    def source(topic, schema):
        raw = (
            spark.readStream.format("lf_kafka")
            .option("bootstrap", bootstrap)
            .option("topic", topic)
            .option("maxRecordsPerTrigger", "5000")
            .load()
        )
        return raw.select(F.from_json("value", schema).alias("r")).select("r.*").where(F.col("id").isNotNull())

    def start(name, df, sink):
        return (
            df.writeStream.queryName(name)
            .option("checkpointLocation", os.path.join(checkpoints, name))
            .trigger(processingTime=trigger)
            .foreachBatch(sink)
            .start()
        )

    telemetry = os.environ["LF_TELEMETRY"]
    queries = [start("bronze", source(telemetry, RECORD), delta_sink(table("bronze"), "bronze"))]
    for d in domains:
        name = f"domain_{d}"
        queries.append(start(name, source(telemetry, RECORD), delta_sink(table(name), name)))
    events = source(os.environ["LF_ALERT_EVENTS"], EVENT)
    queries.append(start("resolver", events, delta_sink(table("alerts"), "resolver", merge=True)))
    log(f"{len(queries)} queries started; awaiting {await_policy}")

    try:
        if await_policy == "each":
            for q in queries:
                q.awaitTermination()
        else:
            spark.streams.awaitAnyTermination()
    except Exception as e:  # a query failed and the await raised it: the driver's end
        say("await_raised", error=str(e)[:2000])
        log(f"a query failed: {str(e)[:2000]}")
        leave(spark, 1)


def server_up():
    """Whether the shared cluster still takes connections: a client whose server is gone has
    nothing to stop there, and every call would wait out its retries."""
    try:
        socket.create_connection(("127.0.0.1", int(os.environ["LF_CLUSTER_PORT"])), timeout=1).close()
        return True
    except OSError:
        return False


def leave(spark, code):
    """Ends the driver with `code`. Its other queries are stopped first: on a shared cluster they
    run in the server, not in this process, and would run on without their driver (measured: a
    retried client then met its predecessor's queries still writing). Then the process exits at
    once: a Connect client's threads would otherwise keep an interpreter alive after an error."""
    # In local mode the queries die with this process and its JVM.
    if spark is not None and os.environ.get("LF_CLUSTER_PORT") and server_up():

        def stop():
            try:
                for q in spark.streams.active:
                    q.stop()
                spark.stop()  # on Spark Connect: releases the session on the server
            except Exception as e:
                log(f"stopping the queries: {str(e)[:500]}")

        stopper = threading.Thread(target=stop, daemon=True)
        stopper.start()
        stopper.join(20)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a failure while starting (a query that cannot start): loud
        log(f"the driver failed: {str(e)[:2000]}")
        leave(SPARK, 1)
