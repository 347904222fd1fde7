"""A Delta table as a streaming source, on Spark's Python Data Source API and delta-rs.

Delta's own streaming source is part of delta-spark, a JVM jar PySpark does not carry; this one
reads the table's log as that source does:

- an offset is `{"version": v}`: every commit up to v has been read (-1: none yet);
- `latestOffset` is the table's current version (-1 while no table stands at the path);
- a micro-batch (start, end] reads the data files that commits start+1..end added with
  `dataChange` true (a compaction's rewrites carry no new rows), one partition per file;
- a restarted query resumes from its checkpoint's offset and reads exactly the new commits.

Options: `path` (the table's location). Rows: version long (the commit that added the row),
value string (the row as JSON: parse it with `from_json`).
"""

import json
import os
from urllib.parse import unquote

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition


class DeltaSource(DataSource):
    @classmethod
    def name(cls):
        return "lf_delta"

    def schema(self):
        return "version long, value string"

    def streamReader(self, schema):
        return DeltaStreamReader(self.options)


class DataFile(InputPartition):
    """One data file a commit added."""

    def __init__(self, version, path):
        self.version = version
        self.path = path


def _commit(root, version):
    return os.path.join(root, "_delta_log", f"{version:020d}.json")


class DeltaStreamReader(DataSourceStreamReader):
    def __init__(self, options):
        self.root = options["path"]

    def _version(self):
        """The table's current version: its newest commit file (-1: no table yet)."""
        log = os.path.join(self.root, "_delta_log")
        try:
            names = os.listdir(log)
        except FileNotFoundError:
            return -1
        versions = [int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()]
        return max(versions, default=-1)

    def initialOffset(self):
        return {"version": -1}

    def latestOffset(self):
        return {"version": self._version()}

    def partitions(self, start, end):
        out = []
        for v in range(start["version"] + 1, end["version"] + 1):
            with open(_commit(self.root, v), encoding="utf-8") as f:
                for line in f:
                    add = json.loads(line).get("add") if line.strip() else None
                    if add and add.get("dataChange", True):
                        out.append(DataFile(v, os.path.join(self.root, unquote(add["path"]))))
        return out

    def read(self, partition):
        import pyarrow.parquet as pq

        for row in pq.read_table(partition.path).to_pylist():
            yield (partition.version, json.dumps(row, default=str))

    def commit(self, end):
        pass  # progress lives in the query's checkpoint

    def stop(self):
        pass
