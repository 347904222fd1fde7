"""What loudfail's Spark jobs share: the session (local mode, or a Spark Connect client), the
query listener and events file, exactly-once Delta sinks, the Kafka and Delta sources, and how a
driver awaits its queries and leaves.

The environment every job reads (loudfail fills it in from the spec):
  LF_BOOTSTRAP      Kafka servers
  LF_CHECKPOINT     the checkpoint root (one directory per query)
  LF_AWAIT          each | any: how the driver awaits its queries
  LF_TRIGGER        trigger interval (default 1 second)
  LF_EVENTS         where to write query events (optional; no verdict depends on them)
  LF_CLUSTER_PORT   a Spark Connect server's port: run as its client (empty: local mode)
  LF_CONNECT_RETRIES   the Connect client's retries of an unreachable server (default: its
                       own policy, about 10 minutes)
"""

import time

IMPORTED = time.monotonic()  # before pyspark's import: the job's own start, near enough

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

# Spark's Python workers must run this venv's Python: without it the source's worker fails
# (No module named 'pyarrow', only in the log) and the query hangs.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake  # noqa: E402
from pyspark.sql import SparkSession, functions as F  # noqa: E402
from pyspark.sql.streaming import StreamingQueryListener  # noqa: E402

from delta_source import DeltaSource  # noqa: E402
from kafka_source import KafkaSource  # noqa: E402
import lfspark_tmp  # noqa: E402

SPARK = None  # the driver's session, once it has one
JOB = "spark"  # the job's name, for its log lines


def log(msg):
    print(f"{JOB}: {msg}", file=sys.stderr, flush=True)


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
    """A foreachBatch function writing each micro-batch to the Delta table at `location` (a path,
    or a function returning one, asked at every batch), exactly once: a txn action (app_id, batch
    id) per commit, and a batch the table already holds skipped. delta-rs accepts a stale txn
    version without complaint, so the check is ours. Where no table stands, the first write
    creates one (as `saveAsTable` into an external location does)."""

    def write(df, batch_id):
        where = location() if callable(location) else location
        table = table_or_none(where)
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
            write_deltalake(where, data, mode="append", schema_mode="merge", commit_properties=props)

    return write


def catalog_location(catalog, table):
    """A function giving `table`'s location as the catalog file says now (Unity Catalog's
    name -> external location, read at every batch)."""

    def where():
        with open(catalog, encoding="utf-8") as f:
            return json.load(f)["tables"][table]

    return where


def session(app):
    """The driver's session: a client of the shared cluster when LF_CLUSTER_PORT is set (its
    queries run there), else Spark in local mode in this process."""
    global SPARK
    began = time.monotonic()
    remote = os.environ.get("LF_CLUSTER_PORT", "")
    if remote:
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{remote}").getOrCreate()
        retries = os.environ.get("LF_CONNECT_RETRIES", "")
        if retries:
            # The client's default policy retries an unreachable server for about 10 minutes;
            # with a few retries a lost driver is an error within seconds.
            from pyspark.sql.connect.client.retries import DefaultPolicy

            spark.client.set_retry_policies([DefaultPolicy(max_retries=int(retries), max_backoff=2000)])
    else:
        builder = (
            SparkSession.builder.master("local[2]")
            .appName(app)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
        for key, value in lfspark_tmp.confs():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    SPARK = spark
    # How long the session took (a JVM's start in local mode, a gRPC connection on Connect),
    # for the figures: a Spark job's cold start is this plus its queries' first batches.
    now = time.monotonic()
    say("session_ready", seconds=round(now - began, 3), since_start=round(now - IMPORTED, 3), remote=bool(remote))
    log(f"session ready in {now - began:.1f} s ({now - IMPORTED:.1f} s since the job's start)")
    spark.dataSource.register(KafkaSource)
    spark.dataSource.register(DeltaSource)
    spark.streams.addListener(Listener())
    return spark


def kafka(spark, topic, schema):
    """The records of a Kafka topic (JSON) as rows of `schema`; a record that is not JSON, or has
    no id, is skipped."""
    raw = (
        spark.readStream.format("lf_kafka")
        .option("bootstrap", os.environ["LF_BOOTSTRAP"])
        .option("topic", topic)
        .option("maxRecordsPerTrigger", "5000")
        .load()
    )
    return raw.select(F.from_json("value", schema).alias("r")).select("r.*").where(F.col("id").isNotNull())


def delta(spark, path, schema):
    """The rows each commit appends to the Delta table at `path`, as a stream of rows of
    `schema` (Delta's streaming source, on delta-rs)."""
    raw = spark.readStream.format("lf_delta").option("path", path).load()
    return raw.select(F.from_json("value", schema).alias("r")).select("r.*").where(F.col("id").isNotNull())


def start(name, df, sink):
    """Starts query `name` writing `df` through the foreachBatch function `sink`."""
    return (
        df.writeStream.queryName(name)
        .option("checkpointLocation", os.path.join(os.environ["LF_CHECKPOINT"], name))
        .trigger(processingTime=os.environ.get("LF_TRIGGER", "1 second"))
        .foreachBatch(sink)
        .start()
    )


def await_policy():
    policy = os.environ.get("LF_AWAIT", "any")
    if policy not in ("each", "any"):
        log(f"LF_AWAIT must be each or any, not {policy!r}")
        sys.exit(2)
    return policy


def await_queries(spark, queries, policy):
    """Awaits the queries the way `policy` says, and leaves with 1 when the await raises:
    - `each`: `q.awaitTermination()` for each query in order (the incident: the main blocks on
      the first, and a later one's death is never noticed);
    - `any`: `spark.streams.awaitAnyTermination()` (the band-aid: the first failure ends the
      driver with a non-zero exit, and the job restarts it)."""
    log(f"{len(queries)} queries started; awaiting {policy}")
    try:
        if policy == "each":
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


def run(job, main):
    """Runs a job's `main`; a failure while starting (a query that cannot start) is loud."""
    global JOB
    JOB = job
    try:
        main()
    except Exception as e:
        log(f"the driver failed: {str(e)[:2000]}")
        leave(SPARK, 1)
