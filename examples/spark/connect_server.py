#!/usr/bin/env python3
"""A Spark Connect server: the shared cluster of spark-telemetry under `shared-cluster`.

The architecture of Databricks' shared clusters: one Spark driver (here in local mode) that
every task uses as a client over gRPC. A client's queries run in this process: its
`foreachBatch` sinks in server-side Python workers, which need this venv's Python
(PYSPARK_PYTHON) and this directory on their path (the Kafka source's module).

  LF_CLUSTER_PORT   the loopback port to listen on (loudfail fills in {cluster_port})

It replaces itself with spark-submit, which replaces itself with the JVM: the process loudfail
started is the server, and a SIGKILL to it is the driver's loss.
"""

import os
import sys

import lfspark_tmp

here = os.path.dirname(os.path.abspath(__file__))
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
port = os.environ["LF_CLUSTER_PORT"]
args = [
    submit,
    "--master", "local[2]",
    "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
    "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
    "--conf", f"spark.connect.grpc.binding.port={port}",
    "--conf", "spark.driver.host=127.0.0.1",
    "--conf", "spark.driver.bindAddress=127.0.0.1",
    "--conf", "spark.ui.enabled=false",
    "--conf", "spark.sql.shuffle.partitions=2",
    *lfspark_tmp.submit_args(),
    "spark-internal",
]
print(f"connect-server: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
os.execv(submit, args)
