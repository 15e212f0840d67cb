"""Glue job `cdc-bronze`: Debezium change events from Kafka/MSK into an Iceberg bronze table.

The AWS twin of flowctl's local `kafka_to_iceberg` job, writing the same table layout
(crates/lakehouse/src/bronze.rs) with the same exactly-once rule: **the next offset of every
partition is committed in the same Iceberg snapshot as the rows read up to it** (snapshot
summary key `flowctl.kafka.next-offsets`, JSON `{"topic": {"partition": next_offset}}`), and a
run starts from those offsets whatever a consumer group says. A crash before the commit leaves
neither rows nor offsets; after it, both.

One run is a batch: every partition of `--topics` from its stored offset up to the high
watermark seen at start. Tombstones and transaction markers are skipped; anything that does
not parse goes, whole and with the reason, to `<table>_dlq` (committed before bronze, so dead
letters are at-least-once while bronze stays exactly-once).

Arguments (`--key value`):
  --topics            comma-separated Kafka topics (required)
  --table             bronze table, `database.table` (required), e.g. bronze.orders_cdc_raw
                      (the Glue database of that name under the default --namespaces)
  --bootstrap-servers Kafka/MSK bootstrap brokers (required)
  --warehouse         s3:// warehouse URI of new tables (required)
  --kafka-options     JSON object of extra Kafka client properties, e.g. MSK IAM auth:
                      {"security.protocol": "SASL_SSL", "sasl.mechanism": "AWS_MSK_IAM", ...}
  --namespaces        local namespace → Glue database pairs (default
                      bronze=bronze,silver=silver,gold=gold)
  --run-id            the flowctl run, recorded in the snapshot summary (`flowctl.run-id`)
  --catalog           Spark catalog name (default glue_catalog)

Concurrency: the Glue job allows one run at a time (terraform: max_concurrent_runs = 1) and the
commit is checked to sit right on the snapshot the run planned from; anything else is reported
as an error naming both snapshots.
"""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import flowctl_glue as common

# Keep in step with crates/lakehouse/src/bronze.rs.
OFFSETS_SUMMARY_KEY = "flowctl.kafka.next-offsets"
CLUSTER_SUMMARY_KEY = "flowctl.kafka.cluster-id"
DLQ_SUFFIX = "_dlq"
# Which flowctl run made a snapshot (for audits; not read back).
RUN_ID_SUMMARY_KEY = "flowctl.run-id"

# (name, Spark SQL type, nullable), in table order.
BRONZE_COLUMNS: list[tuple[str, str, bool]] = [
    ("kafka_topic", "string", False),
    ("kafka_partition", "int", False),
    ("kafka_offset", "bigint", False),
    ("kafka_key", "string", True),
    ("kafka_timestamp_ms", "bigint", True),
    ("op", "string", False),
    ("source_db", "string", True),
    ("source_schema", "string", True),
    ("source_table", "string", True),
    ("source_ts_ms", "bigint", True),
    ("ts_ms", "bigint", True),
    ("lsn", "bigint", True),
    ("tx_id", "bigint", True),
    ("before", "string", True),
    ("after", "string", True),
    ("value_schema", "string", True),
    ("ingested_at", "timestamp", False),
]

DLQ_COLUMNS: list[tuple[str, str, bool]] = [
    ("kafka_topic", "string", False),
    ("kafka_partition", "int", False),
    ("kafka_offset", "bigint", False),
    ("raw_key", "binary", True),
    ("raw_value", "binary", True),
    ("error", "string", False),
    ("ingested_at", "timestamp", False),
]

OPS = {"c", "u", "d", "r", "t"}

# The job's arguments (see the module doc); terraform sets --warehouse (and --bootstrap-servers
# when the environment names the brokers) as default arguments.
REQUIRED_ARGUMENTS = ["topics", "table", "bootstrap-servers", "warehouse"]
OPTIONAL_ARGUMENTS = {
    "kafka-options": "{}",
    "catalog": common.DEFAULT_CATALOG,
    "namespaces": common.DEFAULT_NAMESPACES,
    "run-id": None,
}

Offsets = dict[str, dict[int, int]]


# --- stored offsets ---------------------------------------------------------------------------


def parse_offsets(text: str | None) -> Offsets:
    """Parses the stored offsets, `{"topic": {"partition": next_offset}}` (None: nothing stored)."""
    if text is None:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"`{OFFSETS_SUMMARY_KEY}` is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"`{OFFSETS_SUMMARY_KEY}` must be a JSON object of topics")
    out: Offsets = {}
    for topic, parts in raw.items():
        if not isinstance(parts, dict):
            raise ValueError(
                f"`{OFFSETS_SUMMARY_KEY}`: topic {topic} must map partitions to offsets"
            )
        for partition, offset in parts.items():
            try:
                p = int(partition)
            except ValueError:
                raise ValueError(
                    f"`{OFFSETS_SUMMARY_KEY}`: partition `{partition}` of topic {topic} is not a number"
                ) from None
            if isinstance(offset, bool) or not isinstance(offset, int):
                raise ValueError(
                    f"`{OFFSETS_SUMMARY_KEY}`: offset of {topic}[{partition}] is not an integer"
                )
            out.setdefault(topic, {})[p] = offset
    return out


def encode_offsets(offsets: Offsets) -> str:
    """The stored form of offsets (partitions as strings, as the local job writes them)."""
    return common.to_json(
        {topic: {str(p): o for p, o in sorted(parts.items())} for topic, parts in offsets.items()}
    )


@dataclass(frozen=True)
class Watermarks:
    """A partition as the broker reports it at the start of the run."""

    topic: str
    partition: int
    low: int
    high: int


@dataclass(frozen=True)
class PartitionRange:
    """Where one partition is read: [start, end)."""

    topic: str
    partition: int
    start: int
    end: int


@dataclass
class Plan:
    """The partitions to read, the offsets before reading, and what to tell the user."""

    ranges: list[PartitionRange] = field(default_factory=list)
    initial: Offsets = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def next_offsets(self) -> Offsets:
        """The offsets to store once every range is read: each planned partition at its end."""
        out = {t: dict(ps) for t, ps in self.initial.items()}
        for r in self.ranges:
            out.setdefault(r.topic, {})[r.partition] = r.end
        return out


def plan_offsets(
    stored: Offsets,
    stored_cluster: str | None,
    cluster_id: str | None,
    watermarks: Sequence[Watermarks],
) -> Plan:
    """Plans a run exactly as the local job does (crates/jobs-kafka/src/bronze/offsets.rs).

    Handled deliberately rather than read as "nothing new": offsets stored for another cluster
    (every partition restarts at its low watermark), an offset beyond the partition's end (a
    recreated topic: restart at low) and one below the low watermark (retention deleted
    unread events: start at low and say how many were lost).
    """
    plan = Plan()
    cluster_changed = (
        stored_cluster is not None
        and cluster_id is not None
        and stored_cluster != cluster_id
        and bool(stored)
    )
    if cluster_changed:
        plan.notices.append(
            f"the stored offsets belong to Kafka cluster {stored_cluster}, but the broker is "
            f"cluster {cluster_id}: every partition starts again from its low watermark"
        )
        plan.initial = {}
    else:
        plan.initial = {t: dict(ps) for t, ps in stored.items()}
    for w in watermarks:
        previous = None if cluster_changed else stored.get(w.topic, {}).get(w.partition)
        if previous is None:
            start = w.low
        elif previous > w.high:
            plan.notices.append(
                f"{w.topic}[{w.partition}]: the stored next offset {previous} is beyond the "
                f"partition's end {w.high} (the topic was recreated?): starting again from its "
                f"low watermark {w.low}"
            )
            start = w.low
        elif previous < w.low:
            plan.notices.append(
                f"{w.topic}[{w.partition}]: offsets {previous}..{w.low} were deleted by retention "
                f"before they were read: {w.low - previous} event(s) are lost; starting at {w.low}"
            )
            start = w.low
        else:
            start = previous
        plan.initial.setdefault(w.topic, {})[w.partition] = start
        plan.ranges.append(PartitionRange(w.topic, w.partition, start, w.high))
    return plan


def parse_kafka_options(text: str | None) -> dict[str, str]:
    """`--kafka-options`: a JSON object of Kafka client properties (values as strings)."""
    try:
        raw = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise common.JobArgumentError(f"--kafka-options is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise common.JobArgumentError(
            '--kafka-options must be a JSON object, e.g. {"security.protocol": "SASL_SSL"}'
        )
    return {str(k): str(v) for k, v in raw.items()}


def spark_kafka_ranges(plan: Plan) -> tuple[str, str, str]:
    """`assign`, `startingOffsets` and `endingOffsets` JSON for Spark's Kafka batch source.

    Every partition is given explicitly (Spark requires all assigned partitions in specific
    offsets), so Spark reads exactly the planned ranges.
    """
    assign: dict[str, list[int]] = {}
    start: dict[str, dict[str, int]] = {}
    end: dict[str, dict[str, int]] = {}
    for r in plan.ranges:
        assign.setdefault(r.topic, []).append(r.partition)
        start.setdefault(r.topic, {})[str(r.partition)] = r.start
        end.setdefault(r.topic, {})[str(r.partition)] = r.end
    return common.to_json(assign), common.to_json(start), common.to_json(end)


# --- parsing Debezium messages ----------------------------------------------------------------


class NotAnEvent(ValueError):
    """A message that is neither a change event, a tombstone nor a transaction marker."""


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    return value


def _unwrap(obj: Any) -> tuple[Any, Any]:
    """(payload, schema) of a JSON converter `{"schema", "payload"}` wrapper, else (obj, None)."""
    if isinstance(obj, dict) and "payload" in obj and set(obj) <= {"schema", "payload"}:
        return obj["payload"], obj.get("schema")
    return obj, None


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise NotAnEvent(f"`{name}` must be an integer, found a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise NotAnEvent(f"`{name}` must be an integer, found {value!r:.40}")


def _object(value: Any, name: str) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    raise NotAnEvent(f"`{name}` must be a JSON object or null")


def parse_key(raw: bytes | str | None) -> str | None:
    """A Kafka key as bronze stores it: the key columns as JSON text, wrapper removed.

    None for an empty or `null` key (a table without a primary key). A key that is not a JSON
    object cannot name key columns for the silver merge: that is an error (dead letter).
    """
    text = _text(raw)
    if text is None or not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotAnEvent(f"the Kafka key is not valid JSON: {exc}") from exc
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise NotAnEvent("a Debezium key is a JSON object of key columns")
    payload, _schema = _unwrap(obj)
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise NotAnEvent("a Debezium key is a JSON object of key columns")
    return _json_text(payload)


def parse_value(raw: bytes | str | None) -> dict | None:
    """A Debezium value as bronze's event columns, or None for a message to skip.

    Skipped: tombstones (empty or `null`) and transaction markers (`status` BEGIN/END).
    Understood: the change-event envelope and records flattened by `ExtractNewRecordState`
    (`__op`, `__deleted`, `__lsn`, ... metadata), each with or without the JSON converter's
    schema wrapper. Anything else raises NotAnEvent with the reason.
    """
    text = _text(raw)
    if text is None or not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotAnEvent(f"not valid JSON: {exc}") from exc
    payload, schema = _unwrap(obj)
    if payload is None:
        return None
    if not isinstance(payload, dict):
        raise NotAnEvent("a Debezium value is a JSON object")
    if payload.get("status") in ("BEGIN", "END") and "id" in payload and "op" not in payload:
        return None
    schema_text = _json_text(schema) if isinstance(schema, dict) else None
    if "op" in payload:
        return _envelope(payload, schema_text)
    if "__op" in payload or "__deleted" in payload:
        return _flattened(payload, schema_text)
    raise NotAnEvent(
        "not a Debezium change event: no `op` (envelope) nor `__op`/`__deleted` (flattened record)"
    )


def _envelope(payload: dict, schema_text: str | None) -> dict:
    op = payload.get("op")
    if op not in OPS:
        raise NotAnEvent(f"unknown Debezium op {op!r:.20} (expected one of c, u, d, r, t)")
    source = _object(payload.get("source"), "source") or {}
    before = _object(payload.get("before"), "before")
    after = _object(payload.get("after"), "after")
    return {
        "op": op,
        "source_db": source.get("db"),
        "source_schema": source.get("schema"),
        "source_table": source.get("table"),
        "source_ts_ms": _int(source.get("ts_ms"), "source.ts_ms"),
        "ts_ms": _int(payload.get("ts_ms"), "ts_ms"),
        "lsn": _int(source.get("lsn"), "source.lsn"),
        "tx_id": _int(source.get("txId"), "source.txId"),
        "before": _json_text(before),
        "after": _json_text(after),
        "value_schema": schema_text,
    }


def _flattened(payload: dict, schema_text: str | None) -> dict:
    meta = {k[2:]: v for k, v in payload.items() if k.startswith("__")}
    row = {k: v for k, v in payload.items() if not k.startswith("__")}
    deleted = str(meta.get("deleted", "false")).lower() == "true"
    op = "d" if deleted else meta.get("op", "u")
    if op not in OPS:
        raise NotAnEvent(f"unknown Debezium op {op!r:.20} in `__op`")
    return {
        "op": op,
        "source_db": meta.get("db"),
        "source_schema": meta.get("schema"),
        "source_table": meta.get("table"),
        "source_ts_ms": _int(meta.get("source_ts_ms"), "__source_ts_ms"),
        "ts_ms": _int(meta.get("ts_ms"), "__ts_ms"),
        "lsn": _int(meta.get("lsn"), "__lsn"),
        "tx_id": _int(meta.get("txId"), "__txId"),
        "before": _json_text(row) if op == "d" else None,
        "after": None if op == "d" else _json_text(row),
        "value_schema": schema_text,
    }


EVENT_FIELDS = [c for c, _, _ in BRONZE_COLUMNS[5:16]]


def classify(key: bytes | None, value: bytes | None) -> tuple[str, dict | None, str | None]:
    """One Kafka message: ("event", columns incl. kafka_key, None), ("skip", None, None) or
    ("dead", None, reason)."""
    try:
        event = parse_value(value)
        if event is None:
            return "skip", None, None
        event["kafka_key"] = parse_key(key)
        return "event", event, None
    except (NotAnEvent, UnicodeDecodeError) as exc:
        return "dead", None, str(exc)


# --- Spark ------------------------------------------------------------------------------------


def _classify_schema():
    from pyspark.sql import types as T

    event_fields = [T.StructField("kafka_key", T.StringType())]
    for name, ty, _ in BRONZE_COLUMNS[5:16]:
        spark_type = T.LongType() if ty == "bigint" else T.StringType()
        event_fields.append(T.StructField(name, spark_type))
    return T.StructType(
        [
            T.StructField("kind", T.StringType(), False),
            T.StructField("event", T.StructType(event_fields)),
            T.StructField("error", T.StringType()),
        ]
    )


def split_messages(messages, ingested_at: datetime.datetime, cache: bool = False):
    """Kafka messages (Spark's Kafka source columns) → (bronze rows, dead letters) DataFrames.

    `messages` needs `key`, `value` (binary), `topic`, `partition`, `offset` and `timestamp`.
    With `cache`, the parsed messages are persisted: the job counts and writes both outputs,
    and the Python parser should run once per message, not once per action.
    """
    from pyspark.sql import functions as F

    udf = F.udf(lambda k, v: classify(k, v), _classify_schema())
    parsed = messages.select(
        F.col("topic").alias("kafka_topic"),
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("long").alias("kafka_offset"),
        F.col("timestamp"),
        F.col("key"),
        F.col("value"),
        udf(F.col("key"), F.col("value")).alias("m"),
    )
    if cache:
        parsed = parsed.persist()
    at = F.lit(ingested_at).cast("timestamp")
    rows = parsed.where(F.col("m.kind") == "event").select(
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        F.col("m.event.kafka_key").alias("kafka_key"),
        (F.unix_micros(F.col("timestamp")) / 1000).cast("long").alias("kafka_timestamp_ms"),
        *[F.col(f"m.event.{name}").alias(name) for name in EVENT_FIELDS],
        at.alias("ingested_at"),
    )
    dead = parsed.where(F.col("m.kind") == "dead").select(
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        F.col("key").alias("raw_key"),
        F.col("value").alias("raw_value"),
        F.col("m.error").alias("error"),
        at.alias("ingested_at"),
    )
    return rows, dead


def create_table_sql(table: str, columns: Sequence[tuple[str, str, bool]]) -> str:
    """`CREATE TABLE IF NOT EXISTS` for an Iceberg v2 table with ZSTD Parquet."""
    cols = ",\n  ".join(f"{n} {t}{'' if nullable else ' NOT NULL'}" for n, t, nullable in columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n) USING iceberg\n"
        "TBLPROPERTIES ('format-version' = '2', 'write.parquet.compression-codec' = 'zstd')"
    )


def broker_state(
    spark, bootstrap: str, topics: Sequence[str], options: Mapping[str, str]
):  # pragma: no cover
    """(cluster id, watermarks of every partition of `topics`) from the broker, via the Kafka
    client on the driver's classpath (Glue ships it with Spark's Kafka source)."""
    jvm = spark.sparkContext._jvm
    props = jvm.java.util.Properties()
    props.put("bootstrap.servers", bootstrap)
    props.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer")
    props.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer")
    props.put("enable.auto.commit", "false")
    for k, v in options.items():
        props.put(k, str(v))
    admin = jvm.org.apache.kafka.clients.admin.AdminClient.create(props)
    try:
        cluster_id = admin.describeCluster().clusterId().get()
    finally:
        admin.close()
    consumer = jvm.org.apache.kafka.clients.consumer.KafkaConsumer(props)
    try:
        marks = []
        for topic in topics:
            infos = consumer.partitionsFor(topic)
            if infos is None or infos.isEmpty():
                raise RuntimeError(f"Kafka topic {topic} does not exist (check --topics)")
            tps = jvm.java.util.ArrayList()
            for info in infos:
                tps.add(jvm.org.apache.kafka.common.TopicPartition(topic, info.partition()))
            low = consumer.beginningOffsets(tps)
            high = consumer.endOffsets(tps)
            for tp in tps:
                marks.append(Watermarks(topic, tp.partition(), low.get(tp), high.get(tp)))
        return cluster_id, sorted(marks, key=lambda w: (w.topic, w.partition))
    finally:
        consumer.close()


def main(argv: Sequence[str]) -> int:  # pragma: no cover - runs on Glue
    common.configure_logging()
    log = common.LOG
    args = common.parse_job_args(argv, REQUIRED_ARGUMENTS, OPTIONAL_ARGUMENTS)
    topics = common.parse_list(args["topics"], "topics")
    namespaces = common.parse_namespaces(args["namespaces"])
    table = common.resolve_table(args["table"], "table", namespaces)
    dlq = common.TableRef(table.database, table.table + DLQ_SUFFIX)
    catalog = common.parse_identifier(args["catalog"], "--catalog")
    kafka_options = parse_kafka_options(args["kafka-options"])

    spark = common.spark_session("flowctl-cdc-bronze", catalog, args["warehouse"])
    job = common.glue_job(spark, argv)
    spark.sql(create_table_sql(table.qualified(catalog), BRONZE_COLUMNS))
    spark.sql(create_table_sql(dlq.qualified(catalog), DLQ_COLUMNS))

    snapshots = common.snapshot_summaries(spark, table, catalog)
    planned_from = snapshots[0][0] if snapshots else None
    summaries = [s for _, s in snapshots]
    stored = parse_offsets(common.latest_summary_value(summaries, OFFSETS_SUMMARY_KEY))
    stored_cluster = common.latest_summary_value(summaries, CLUSTER_SUMMARY_KEY)
    cluster_id, marks = broker_state(spark, args["bootstrap-servers"], topics, kafka_options)
    plan = plan_offsets(stored, stored_cluster, cluster_id, marks)
    for notice in plan.notices:
        log.warning(notice)
    next_offsets = plan.next_offsets()
    if next_offsets == stored and stored_cluster == cluster_id:
        log.info("nothing new since the last run: no commit")
        if job:
            job.commit()
        return 0

    assign, starting, ending = spark_kafka_ranges(plan)
    reader = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", args["bootstrap-servers"])
        .option("assign", assign)
        .option("startingOffsets", starting)
        .option("endingOffsets", ending)
        .option("failOnDataLoss", "true")
    )
    for k, v in kafka_options.items():
        reader = reader.option(f"kafka.{k}", str(v))
    messages = reader.load()
    ingested_at = datetime.datetime.now(datetime.timezone.utc)
    rows, dead = split_messages(messages, ingested_at, cache=True)

    dead_count = dead.count()
    if dead_count:
        dead.writeTo(dlq.qualified(catalog)).append()
        log.warning("%d dead letter(s) written to %s", dead_count, dlq)
    # The commit that makes the run count: rows and next offsets in one snapshot. Spark's
    # DataFrameWriterV2 `snapshot-property.*` options land in that snapshot's summary.
    row_count = rows.count()
    writer = (
        rows.writeTo(table.qualified(catalog))
        .option(f"snapshot-property.{OFFSETS_SUMMARY_KEY}", encode_offsets(next_offsets))
        .option(f"snapshot-property.{CLUSTER_SUMMARY_KEY}", cluster_id)
    )
    if args["run-id"]:
        writer = writer.option(f"snapshot-property.{RUN_ID_SUMMARY_KEY}", args["run-id"])
    writer.append()
    after = common.snapshot_summaries(spark, table, catalog)
    check_commit(spark, table, catalog, planned_from, after, next_offsets)
    log.info(
        "bronze %s: %d event(s), %d dead letter(s); next offsets %s",
        table,
        row_count,
        dead_count,
        encode_offsets(next_offsets),
    )
    spark.catalog.clearCache()
    if job:
        job.commit()
    return 0


def check_commit(
    spark, table, catalog, planned_from, snapshots, next_offsets
) -> None:  # pragma: no cover
    """Fails loudly when the commit did not land as planned (another writer in between, or an
    engine that dropped the snapshot properties)."""
    if not snapshots:
        raise RuntimeError(f"{table}: no snapshot after the bronze commit")
    newest_id, summary = snapshots[0]
    if summary.get(OFFSETS_SUMMARY_KEY) != encode_offsets(next_offsets):
        raise RuntimeError(
            f"{table}: snapshot {newest_id} does not carry the offsets just committed: another "
            f"writer committed meanwhile, or the Iceberg runtime ignored `snapshot-property.*`"
        )
    parent = spark.sql(
        f"SELECT parent_id FROM {table.qualified(catalog)}.snapshots WHERE snapshot_id = {newest_id}"
    ).collect()[0]["parent_id"]
    if planned_from is not None and parent != planned_from:
        raise RuntimeError(
            f"{table}: another writer committed between snapshot {planned_from} (planned from) "
            f"and {newest_id} (this run's commit): check that only one cdc-bronze run writes "
            f"this table (the Glue job allows one concurrent run)"
        )


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(main(sys.argv[1:]))
    except common.JobArgumentError as exc:
        print(f"cdc-bronze: {exc}", file=sys.stderr)
        sys.exit(2)
