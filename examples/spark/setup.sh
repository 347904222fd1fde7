#!/usr/bin/env bash
# Makes the Spark pipelines' venv (.venv beside this script) with pinned packages: PySpark 4.3.0
# (its jars, Spark Connect's included), delta-rs's Python bindings for the Delta sinks,
# confluent-kafka for the Kafka source, and what Spark Connect's clients need. Idempotent: a venv
# whose packages match is left as it is. Needs Java 17 or later, python3 with venv, and PyPI.
set -euo pipefail
cd "$(dirname "$0")"
want="pyspark==4.3.0 deltalake==1.6.6 confluent-kafka==2.16.1 pyarrow==26.0.1 pandas<3 grpcio grpcio-status googleapis-common-protos zstandard protobuf"
java_major() {
  java -XX:-UsePerfData -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}
if ! command -v java > /dev/null; then
  echo "spark: Java is missing: install Java 17 or later (apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
if [ "$(java_major)" -lt 17 ]; then
  echo "spark: Java $(java_major) is too old for Spark 4: install Java 17 or later (apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
. ../venv.sh
make_venv spark 3.10 "$want"
