#!/usr/bin/env python3
"""Incident 2's job on real Spark Structured Streaming: feature extraction and inference as
two tasks (two processes, as two Databricks tasks are), each its own driver — or, under
`shared-cluster`, each a client of one Spark Connect server, sharing its driver.

- task `features` (LF_TASK=features): the sensors topic → the features table
  (f1 = 2 * reading, f2 = reading²);
- task `inference` (LF_TASK=inference): the features table's new rows, streamed
  (delta_source.py) → the predictions table (score = 0.3 * f1 + 0.01 * f2). It finds the
  predictions table **through the catalog file at every batch**, as a query resolving a
  table name through Unity Catalog does, and writes there, creating a table where it finds
  none (`saveAsTable` into an external location): a catalog entry moved to where no table can
  be fails its writes; one moved to an empty place makes it write a fresh table nobody reads.

Both write exactly once (lfspark.delta_sink) and await their query as LF_AWAIT says.

Its environment, beyond lfspark's:
  LF_TASK          features | inference
  LF_SENSORS       the sensors topic (features)
  LF_TABLE_FEATURES   the features table's location (both)
  LF_CATALOG       the catalog file, {"tables": {"predictions": location}} (inference)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lfspark  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

READING = "id long, ts long, sensor string, reading double"
FEATURE = "id long, sensor string, f1 double, f2 double"


def main():
    task = os.environ.get("LF_TASK", "")
    if task not in ("features", "inference"):
        lfspark.log(f"LF_TASK must be features or inference, not {task!r}")
        sys.exit(2)
    policy = lfspark.await_policy()
    spark = lfspark.session(f"spark-{task}")
    features = os.environ["LF_TABLE_FEATURES"]
    if task == "features":
        readings = lfspark.kafka(spark, os.environ["LF_SENSORS"], READING)
        rows = readings.select(
            "id",
            "sensor",
            (F.col("reading") * 2.0).alias("f1"),
            (F.col("reading") * F.col("reading")).alias("f2"),
        )
        query = lfspark.start("features", rows, lfspark.delta_sink(features, "features"))
    else:
        rows = lfspark.delta(spark, features, FEATURE)
        scores = rows.select("id", (F.col("f1") * 0.3 + F.col("f2") * 0.01).alias("score"))
        where = lfspark.catalog_location(os.environ["LF_CATALOG"], "predictions")
        query = lfspark.start("inference", scores, lfspark.delta_sink(where, "inference"))
    lfspark.await_queries(spark, [query], policy)


if __name__ == "__main__":
    lfspark.run(f"spark-{os.environ.get('LF_TASK', 'features-inference')}", main)
