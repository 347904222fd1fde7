"""A Kafka source for Spark Structured Streaming on Spark's Python Data Source API.

Spark's own Kafka source is a JVM connector jar (spark-sql-kafka) that is not part of PySpark;
this one reads Kafka with confluent-kafka inside Spark's Python workers, with the semantics a
streaming source owes its query:

- offsets are `{"<partition>": next offset}`, kept in the query's checkpoint by Spark;
- `latestOffset(start, limit)` honours the trigger's read limit (`maxRecordsPerTrigger`),
  spread over the partitions in order;
- each partition of a micro-batch is read by assign at its start offset, up to its end offset;
- a restarted query resumes from its checkpoint's offsets and reads exactly the new records.

Options: `bootstrap` (servers), `topic`, `maxRecordsPerTrigger` (0: all available),
`timeoutSeconds` (how long the broker may keep us waiting before the query fails; 120 s, like
Spark's Kafka source's default API timeout).

Rows: partition int, offset long, value string (the record, as UTF-8 text).
"""

import time

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows


class KafkaSource(DataSource):
    @classmethod
    def name(cls):
        return "lf_kafka"

    def schema(self):
        return "partition int, offset long, value string"

    def streamReader(self, schema):
        return KafkaStreamReader(self.options)


class Slice(InputPartition):
    """One Kafka partition's records from `start` up to (not including) `end`."""

    def __init__(self, partition, start, end):
        self.partition = partition
        self.start = start
        self.end = end


def _consumer(bootstrap):
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "lf-spark-source",  # never subscribed nor committed: assign only
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "broker.address.family": "v4",
            "log_level": 3,
        }
    )


class KafkaStreamReader(DataSourceStreamReader):
    def __init__(self, options):
        self.bootstrap = options["bootstrap"]
        self.topic = options["topic"]
        self.max_records = int(options.get("maxRecordsPerTrigger", "0"))
        self.timeout = float(options.get("timeoutSeconds", "120"))
        self._probe = None

    def _ends(self):
        """Partition -> end offset (the next offset to be written), as the broker says now."""
        from confluent_kafka import KafkaException, TopicPartition

        if self._probe is None:
            self._probe = _consumer(self.bootstrap)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                meta = self._probe.list_topics(self.topic, timeout=10)
                parts = sorted(meta.topics[self.topic].partitions)
                if not parts:
                    raise KafkaException(f"topic {self.topic} has no partitions (yet)")
                ends = {}
                for p in parts:
                    _, high = self._probe.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
                    ends[str(p)] = high
                return ends
            except KafkaException:
                if time.monotonic() > deadline:
                    raise

    def initialOffset(self):
        return {p: 0 for p in self._ends()}

    def getDefaultReadLimit(self):
        return ReadMaxRows(self.max_records) if self.max_records > 0 else ReadAllAvailable()

    def latestOffset(self, start, limit):
        ends = self._ends()
        out = {p: max(ends[p], start.get(p, 0)) for p in ends}
        if isinstance(limit, ReadMaxRows):
            budget = limit.max_rows
            for p in sorted(out, key=int):
                take = min(out[p] - start.get(p, 0), budget)
                out[p] = start.get(p, 0) + take
                budget -= take
        return out

    def partitions(self, start, end):
        return [Slice(int(p), start.get(p, 0), end[p]) for p in sorted(end, key=int) if end[p] > start.get(p, 0)]

    def read(self, partition):
        from confluent_kafka import KafkaException, TopicPartition

        if partition.end <= partition.start:
            return
        consumer = _consumer(self.bootstrap)
        try:
            consumer.assign([TopicPartition(self.topic, partition.partition, partition.start)])
            deadline = time.monotonic() + self.timeout
            offset = partition.start
            while offset < partition.end:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.topic}[{partition.partition}]: offsets {offset}..{partition.end} "
                        f"not readable within {self.timeout:.0f} s"
                    )
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().fatal():
                        raise KafkaException(msg.error())
                    continue  # retriable: the client retries
                if msg.offset() >= partition.end:
                    break
                offset = msg.offset() + 1
                value = msg.value()
                yield (partition.partition, msg.offset(), value.decode("utf-8", "replace") if value else None)
        finally:
            consumer.close()

    def commit(self, end):
        pass  # progress lives in the query's checkpoint

    def stop(self):
        if self._probe is not None:
            self._probe.close()
            self._probe = None
