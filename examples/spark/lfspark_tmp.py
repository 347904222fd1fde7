"""Where a Spark driver keeps its temporary files: in TMPDIR (loudfail gives every process one in
its run directory), not /tmp. Spark deletes its `spark-*`, `blockmgr-*` and `artifacts-*`
directories and its native libraries from a shutdown hook, which never runs when the driver is
killed; a JVM reads java.io.tmpdir, not TMPDIR, and writes its perf data to /tmp unless told not
to."""

import os


def java_options():
    """The driver JVM's options: its tmpdir, and no perf-data file in /tmp."""
    tmp = os.environ.get("TMPDIR", "")
    return f"-Djava.io.tmpdir={tmp} -XX:-UsePerfData" if tmp else "-XX:-UsePerfData"


def confs():
    """Spark settings, as (key, value) pairs: its local directory, the driver's JVM options."""
    tmp = os.environ.get("TMPDIR", "")
    local = [("spark.local.dir", tmp)] if tmp else []
    return local + [("spark.driver.extraJavaOptions", java_options())]


def submit_args():
    """The same as spark-submit arguments."""
    return [a for k, v in confs() for a in ("--conf", f"{k}={v}")]
