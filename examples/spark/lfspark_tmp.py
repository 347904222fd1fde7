"""Where a Spark driver keeps its temporary files: in TMPDIR (loudfail gives every process of a
program one of its own in the run directory), not /tmp. Spark deletes its `spark-*`,
`blockmgr-*` and `artifacts-*` directories and its native libraries from a shutdown hook, which
never runs when the driver is killed. A JVM reads java.io.tmpdir, not TMPDIR (Spark's local
directory follows java.io.tmpdir when spark.local.dir is not set), and writes its perf data to
/tmp unless told not to. Spark's launcher (the short-lived JVM spark-submit starts to build the
driver's command) takes its options from SPARK_LAUNCHER_OPTS alone; importing this module sets
perf data off there too."""

import os

os.environ.setdefault("SPARK_LAUNCHER_OPTS", "-XX:-UsePerfData")


def confs():
    """Spark settings, as (key, value) pairs: the driver JVM's tmpdir, and no perf-data file."""
    tmp = os.environ.get("TMPDIR", "")
    options = f"-Djava.io.tmpdir={tmp} -XX:-UsePerfData" if tmp else "-XX:-UsePerfData"
    return [("spark.driver.extraJavaOptions", options)]


def submit_args():
    """The same as spark-submit arguments."""
    return [a for k, v in confs() for a in ("--conf", f"{k}={v}")]
