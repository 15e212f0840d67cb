"""Glue job `cdc-silver`: merges a bronze table's new change events into an Iceberg silver table.

The AWS twin of flowctl's local `iceberg_merge` job (crates/jobs-merge), with MERGE INTO:

* `--mode current`: one row per live key. The latest change per key wins, ordered by
  `source.lsn`, then `source.ts_ms`, then Kafka offset (and partition), a missing value sorting
  first; a delete removes the row. Silver keeps that order in `_cdc_lsn`, `_cdc_source_ts_ms`,
  `_cdc_offset`, `_cdc_partition`, and a change that is not newer than the stored row (a
  re-delivered event) is ignored, so re-running a batch changes nothing.
* `--mode scd2`: every upsert opens a version (`effective_from` = the change's source time,
  `effective_to` null, `is_current` true) and closes the previous one; a delete closes it.

Incremental: only bronze snapshots after the one recorded as merged (`flowctl.merge.source-
snapshot-id`) are read. Correctness does not depend on it (the order columns make a re-read
harmless), so the record is an optimisation: it is written as a table property after every
merge (and in the merge's snapshot summary where the Iceberg runtime honours session snapshot
properties); a crash in between only means some bronze is read again.

Column types come from the events' Kafka Connect value schema (decimals decoded exactly from
Debezium's base64 bytes, Debezium time types to timestamps/dates), overridden by `--columns`,
and otherwise inferred from the JSON values.

Arguments (`--key value`):
  --source        bronze table `database.table` (required), e.g. bronze.orders_cdc_raw
  --target        silver table `database.table` (required), created on the first run
  --key           primary-key column(s), comma-separated (required)
  --mode          current (default) or scd2
  --source-table  only events of this Debezium source table (`table` or `schema.table`), as
                  the local job's `source_table`
  --namespaces    local namespace → Glue database pairs (default
                  bronze=bronze,silver=silver,gold=gold)
  --run-id        the flowctl run (logged)
  --columns       JSON object of column types, e.g. {"total_amount": "decimal(12,2)"}
  --warehouse     s3:// warehouse URI (required)
  --catalog       Spark catalog name (default glue_catalog)
"""

from __future__ import annotations

import base64
import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import flowctl_glue as common

SOURCE_SNAPSHOT_KEY = "flowctl.merge.source-snapshot-id"
EFFECTIVE_FROM = "effective_from"
EFFECTIVE_TO = "effective_to"
IS_CURRENT = "is_current"
ORDER_COLUMNS = ["_cdc_lsn", "_cdc_source_ts_ms", "_cdc_offset", "_cdc_partition"]
RESERVED = set(ORDER_COLUMNS) | {EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT}
TOAST_PLACEHOLDER = "__debezium_unavailable_value"
MODES = ("current", "scd2")

# The job's arguments (see the module doc); terraform sets --warehouse as a default argument.
REQUIRED_ARGUMENTS = ["source", "target", "key", "warehouse"]
OPTIONAL_ARGUMENTS = {
    "mode": "current",
    "source-table": None,
    "columns": None,
    "catalog": common.DEFAULT_CATALOG,
    "namespaces": common.DEFAULT_NAMESPACES,
    "run-id": None,
}
# Smaller than any LSN, time or offset: a missing order value sorts first, as in the local job.
_MISSING = "-9223372036854775808"

_TYPE = re.compile(
    r"^(string|boolean|int|integer|bigint|long|smallint|tinyint|float|double|date|timestamp|"
    r"timestamptz|binary|decimal\(\s*\d+\s*,\s*\d+\s*\))$",
    re.IGNORECASE,
)


# --- arguments and columns --------------------------------------------------------------------


def parse_columns(text: str | None) -> dict[str, str]:
    """`--columns`: a JSON object of column name → type (Spark/Iceberg names; `timestamptz` is
    accepted as the local job writes it)."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise common.JobArgumentError(
            f'--columns must be a JSON object like {{"total_amount": "decimal(12,2)"}}: {exc}'
        ) from exc
    if not isinstance(raw, dict):
        raise common.JobArgumentError('--columns must be a JSON object like {"id": "bigint"}')
    out = {}
    for name, ty in raw.items():
        common.parse_identifier(name, "a --columns name")
        out[name] = spark_type(str(ty), f"--columns {name}")
    return out


def spark_type(text: str, where: str) -> str:
    """Normalises a column type to Spark SQL's spelling."""
    t = re.sub(r"\s+", "", text.strip().lower())
    if not _TYPE.match(t):
        raise common.JobArgumentError(
            f"{where}: unknown type {text!r} (use string, boolean, int, bigint, float, double, "
            f"date, timestamp, timestamptz, binary or decimal(p,s))"
        )
    return {"integer": "int", "long": "bigint", "timestamptz": "timestamp"}.get(t, t)


@dataclass(frozen=True)
class ColumnSpec:
    """How one silver column is read from the `after` JSON.

    `wire` is the type `from_json` reads (what the JSON holds), `convert` a SQL template over
    `{v}` (the wire value) giving the silver value of type `type`.
    """

    name: str
    type: str
    wire: str
    convert: str = "{v}"


def decode_decimal(encoded: str | None, scale: int) -> str | None:
    """Debezium's `decimal.handling.mode=precise` value (base64 of the big-endian two's
    complement unscaled integer) as exact decimal text. Never rounds, never drops."""
    if encoded is None:
        return None
    raw = base64.b64decode(encoded, validate=True)
    unscaled = int.from_bytes(raw, byteorder="big", signed=True) if raw else 0
    # Plain digit arithmetic: decimal.Decimal would round past its context's 28 digits.
    sign = "-" if unscaled < 0 else ""
    digits = str(abs(unscaled))
    if scale <= 0:
        return sign + digits + "0" * -scale
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _connect_column(field: Mapping[str, Any]) -> ColumnSpec:
    name = field.get("field", "")
    ty = field.get("type")
    logical = field.get("name") or ""
    params = field.get("parameters") or {}
    if ty == "bytes" and logical == "org.apache.kafka.connect.data.Decimal":
        scale = int(params.get("scale", 0))
        precision = min(int(params.get("connect.decimal.precision", 38)), 38)
        return ColumnSpec(
            name,
            f"decimal({precision},{scale})",
            "string",
            f"CAST(flowctl_decimal({{v}}, {scale}) AS DECIMAL({precision},{scale}))",
        )
    if ty == "bytes":
        return ColumnSpec(name, "binary", "string", "unbase64({v})")
    if ty == "int64" and logical == "io.debezium.time.MicroTimestamp":
        return ColumnSpec(name, "timestamp", "bigint", "timestamp_micros({v})")
    if ty == "int64" and logical == "io.debezium.time.NanoTimestamp":
        return ColumnSpec(name, "timestamp", "bigint", "timestamp_micros(div({v}, 1000))")
    if ty == "int64" and logical in (
        "io.debezium.time.Timestamp",
        "org.apache.kafka.connect.data.Timestamp",
    ):
        return ColumnSpec(name, "timestamp", "bigint", "timestamp_millis({v})")
    if ty == "int32" and logical in ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date"):
        return ColumnSpec(name, "date", "int", "date_add(DATE '1970-01-01', {v})")
    if ty == "string" and logical == "io.debezium.time.ZonedTimestamp":
        return ColumnSpec(name, "timestamp", "string", "CAST({v} AS TIMESTAMP)")
    simple = {
        "int8": "int",
        "int16": "int",
        "int32": "int",
        "int64": "bigint",
        "float32": "float",
        "float64": "double",
        "boolean": "boolean",
        "string": "string",
    }
    if ty in simple:
        return ColumnSpec(name, simple[ty], simple[ty])
    # struct, array, map: kept as JSON text (from_json gives a string field the raw JSON).
    return ColumnSpec(name, "string", "string")


def connect_columns(schema_json: str | None) -> list[ColumnSpec]:
    """The row columns of a Kafka Connect value schema (envelope: the `after`/`before` struct;
    flattened record: its fields less the `__` metadata)."""
    if not schema_json:
        return []
    schema = json.loads(schema_json)
    fields = schema.get("fields") or []
    by_name = {f.get("field"): f for f in fields}
    for part in ("after", "before"):
        row = by_name.get(part)
        if row and row.get("type") == "struct":
            return [_connect_column(f) for f in row.get("fields") or []]
    return [_connect_column(f) for f in fields if not str(f.get("field", "")).startswith("__")]


def resolve_columns(
    keys: Sequence[str],
    existing: Mapping[str, str],
    from_schema: Sequence[ColumnSpec],
    declared: Mapping[str, str],
    inferred: Mapping[str, str],
) -> list[ColumnSpec]:
    """Silver's data columns, in order: the target's existing ones, then new ones as they
    appear in the schema, the declarations and the inferred JSON. A declared type wins; an
    existing column keeps its type (the JSON is cast to it)."""
    schema_by = {c.name: c for c in from_schema}
    names: list[str] = []
    for name in [*keys, *existing, *(c.name for c in from_schema), *declared, *inferred]:
        if name not in names and name not in RESERVED:
            names.append(name)
    out = []
    for name in names:
        base = schema_by.get(name)
        target_type = existing.get(name) or declared.get(name)
        if base is None:
            ty = target_type or inferred.get(name, "string")
            out.append(ColumnSpec(name, ty, ty))
        elif target_type and target_type != base.type:
            out.append(
                ColumnSpec(name, target_type, base.wire, f"CAST({base.convert} AS {target_type})")
            )
        else:
            out.append(base)
    return out


# --- incremental read -------------------------------------------------------------------------


def plan_source_read(
    merged: int | None, current: int | None, known: Sequence[int]
) -> tuple[str, int | None]:
    """How to read bronze: ("none", None) when nothing is new, ("incremental", merged) for the
    snapshots after `merged`, ("full", None) when nothing was merged yet or `merged` is no longer
    a known snapshot (expired: the order columns make a full re-read safe)."""
    if current is None or merged == current:
        return "none", None
    if merged is None or merged not in known:
        return "full", None
    return "incremental", merged


def merged_snapshot(
    properties: Mapping[str, str], current_summary: Mapping[str, str] | None
) -> int | None:
    """The last bronze snapshot merged: the table property written after every run (the newest
    record: a run with nothing to change may commit no snapshot), else the current snapshot's
    summary (a table last written by a runtime that stores it there)."""
    for source in (properties, current_summary or {}):
        value = source.get(SOURCE_SNAPSHOT_KEY)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                raise ValueError(
                    f"`{SOURCE_SNAPSHOT_KEY}` = {value!r} on the target is not a snapshot id"
                ) from None
    return None


# --- SQL --------------------------------------------------------------------------------------


def order_struct(alias: str) -> str:
    """The merge order of a row as a comparable struct (missing values first)."""
    parts = ", ".join(f"'{c}', coalesce({alias}.{c}, {_MISSING})" for c in ORDER_COLUMNS)
    return f"named_struct({parts})"


def newer_condition(source: str = "s", target: str = "t") -> str:
    """True when the source change is newer than the stored row's (a re-delivered older event
    must not revert the row)."""
    return f"{order_struct(source)} > {order_struct(target)}"


def key_condition(keys: Sequence[str], source: str = "s", target: str = "t") -> str:
    return " AND ".join(f"{target}.{k} = {source}.{k}" for k in keys)


def build_merge_sql(target: str, source: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    """MERGE for `--mode current`: `source` has one row per key (its latest change) with the
    data columns, `_op`, the order columns and a `_toast_<col>` flag per data column."""
    newer = newer_condition()
    data = [c for c in columns if c not in keys]
    sets = [f"{c} = CASE WHEN s._toast_{c} THEN t.{c} ELSE s.{c} END" for c in data]
    sets += [f"{c} = s.{c}" for c in ORDER_COLUMNS]
    insert_cols = [*columns, *ORDER_COLUMNS]
    # A new row has no previous value for a TOAST placeholder to keep: null, as the local job.
    values = [
        f"CASE WHEN s._toast_{c} THEN NULL ELSE s.{c} END" if c in data else f"s.{c}"
        for c in insert_cols
    ]
    return (
        f"MERGE INTO {target} t\nUSING {source} s\nON {key_condition(keys)}\n"
        f"WHEN MATCHED AND s._op = 'd' AND {newer} THEN DELETE\n"
        f"WHEN MATCHED AND s._op <> 'd' AND {newer} THEN UPDATE SET\n  "
        + ",\n  ".join(sets)
        + "\nWHEN NOT MATCHED AND s._op <> 'd' THEN INSERT ("
        + ", ".join(insert_cols)
        + ")\n  VALUES ("
        + ", ".join(values)
        + ")"
    )


def build_scd2_merge_sql(
    target: str, source: str, keys: Sequence[str], columns: Sequence[str]
) -> str:
    """MERGE for `--mode scd2`: `source` holds close rows (`_close` true, `_close_at` the first
    change's time, one per touched key) and new versions (`_close` false, with
    effective_from/effective_to/is_current). Close rows end the key's current version; versions
    are inserted."""
    insert_cols = [*columns, EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, *ORDER_COLUMNS]
    return (
        f"MERGE INTO {target} t\nUSING {source} s\n"
        f"ON {key_condition(keys)} AND t.{IS_CURRENT} AND s._close\n"
        f"WHEN MATCHED THEN UPDATE SET {EFFECTIVE_TO} = s._close_at, {IS_CURRENT} = false\n"
        "WHEN NOT MATCHED AND NOT s._close THEN INSERT ("
        + ", ".join(insert_cols)
        + ")\n  VALUES ("
        + ", ".join(f"s.{c}" for c in insert_cols)
        + ")"
    )


def create_target_sql(target: str, columns: Sequence[ColumnSpec], mode: str) -> str:
    cols = [f"{c.name} {c.type}" for c in columns]
    if mode == "scd2":
        cols += [
            f"{EFFECTIVE_FROM} timestamp",
            f"{EFFECTIVE_TO} timestamp",
            f"{IS_CURRENT} boolean",
        ]
    cols += [f"{c} bigint" for c in ORDER_COLUMNS[:3]] + [f"{ORDER_COLUMNS[3]} int"]
    return (
        f"CREATE TABLE IF NOT EXISTS {target} (\n  "
        + ",\n  ".join(cols)
        + "\n) USING iceberg\nTBLPROPERTIES ('format-version' = '2', "
        "'write.parquet.compression-codec' = 'zstd', 'write.merge.mode' = 'copy-on-write', "
        "'write.update.mode' = 'copy-on-write', 'write.delete.mode' = 'copy-on-write')"
    )


def source_table_filter(source_table: str | None) -> str | None:
    """SQL predicate on bronze's source_schema/source_table for `--source-table`."""
    if not source_table:
        return None
    parts = source_table.split(".")
    for p in parts:
        common.parse_identifier(p, "--source-table")
    if len(parts) == 1:
        return f"source_table = '{parts[0]}'"
    if len(parts) == 2:
        return f"source_schema = '{parts[0]}' AND source_table = '{parts[1]}'"
    raise common.JobArgumentError(
        f"--source-table must be `table` or `schema.table`, got {source_table!r}"
    )


# --- DataFrame transformations ----------------------------------------------------------------


def register_functions(spark) -> None:
    """Registers `flowctl_decimal(b64, scale)` for the conversion templates."""
    from pyspark.sql import types as T

    spark.udf.register("flowctl_decimal", decode_decimal, T.StringType())


def typed_changes(events, keys: Sequence[str], columns: Sequence[ColumnSpec]):
    """Bronze events → one row per change: `_op`, keys and data columns typed, `_toast_<col>`
    flags, the order columns and `_ts` (the change's source time)."""
    from pyspark.sql import functions as F

    wire = ", ".join(f"`{c.name}` {c.wire}" for c in columns)
    parsed = events.withColumn("_row", F.from_json(F.col("after"), wire))
    out = [F.col("op").alias("_op")]
    by_name = {c.name: c for c in columns}
    for c in columns:
        value = c.convert.format(v=f"_row.`{c.name}`")
        if c.name in keys:
            # Deletes take the key from `before`, then `after`, then the Kafka key.
            raw = F.coalesce(
                *(
                    F.get_json_object(F.col(src), f"$.{c.name}")
                    for src in ("after", "before", "kafka_key")
                )
            )
            typed = F.when(F.col("op") != "d", F.expr(value)).otherwise(
                raw.cast(by_name[c.name].type)
            )
            out.append(typed.alias(c.name))
        else:
            out.append(F.expr(value).alias(c.name))
            out.append(
                F.coalesce(
                    F.get_json_object(F.col("after"), f"$.{c.name}") == F.lit(TOAST_PLACEHOLDER),
                    F.lit(False),
                ).alias(f"_toast_{c.name}")
            )
    out += [
        F.col("lsn").alias("_cdc_lsn"),
        F.col("source_ts_ms").alias("_cdc_source_ts_ms"),
        F.col("kafka_offset").alias("_cdc_offset"),
        F.col("kafka_partition").alias("_cdc_partition"),
        F.timestamp_millis(F.coalesce(F.col("source_ts_ms"), F.col("ts_ms"), F.lit(0))).alias(
            "_ts"
        ),
        F.concat_ws(
            "",
            F.col("kafka_topic"),
            F.lit("/"),
            F.col("kafka_partition"),
            F.lit("@"),
            F.col("kafka_offset"),
        ).alias("_at"),
    ]
    return parsed.select(*out)


def order_columns(descending: bool):
    from pyspark.sql import functions as F

    if descending:
        return [F.col(c).desc_nulls_last() for c in ORDER_COLUMNS]
    return [F.col(c).asc_nulls_first() for c in ORDER_COLUMNS]


def latest_per_key(changes, keys: Sequence[str]):
    """The latest change of each key (by the order columns; missing values sort first)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(*keys).orderBy(*order_columns(descending=True))
    return changes.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


def scd2_source(changes, current, keys: Sequence[str], columns: Sequence[str]):
    """Close rows and new versions for `build_scd2_merge_sql`.

    `current` holds the target's current versions (keys and order columns). Changes not newer
    than a key's current version are re-deliveries and dropped.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cur = current.select(*keys, *[F.col(c).alias(f"_cur{c}") for c in ORDER_COLUMNS])
    joined = changes.join(cur, on=list(keys), how="left")
    cur_struct = F.struct(
        *[F.coalesce(F.col(f"_cur{c}"), F.lit(int(_MISSING))) for c in ORDER_COLUMNS]
    )
    new_struct = F.struct(*[F.coalesce(F.col(c), F.lit(int(_MISSING))) for c in ORDER_COLUMNS])
    fresh = joined.where(F.col("_cur_cdc_offset").isNull() | (new_struct > cur_struct)).drop(
        *[f"_cur{c}" for c in ORDER_COLUMNS]
    )
    w = Window.partitionBy(*keys).orderBy(*order_columns(descending=False))
    ordered = fresh.withColumn("_next_ts", F.lead("_ts").over(w)).withColumn(
        "_first_ts",
        F.first("_ts").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)),
    )
    data = [c for c in columns if c not in keys]
    versions = ordered.where(F.col("_op") != "d").select(
        *keys,
        *data,
        F.col("_ts").alias(EFFECTIVE_FROM),
        F.col("_next_ts").alias(EFFECTIVE_TO),
        F.col("_next_ts").isNull().alias(IS_CURRENT),
        *ORDER_COLUMNS,
        F.lit(False).alias("_close"),
        F.lit(None).cast("timestamp").alias("_close_at"),
    )
    closes = (
        ordered.groupBy(*keys)
        .agg(F.min("_first_ts").alias("_close_at"))
        .select(
            *keys,
            *[F.lit(None).alias(c) for c in data],
            F.lit(None).cast("timestamp").alias(EFFECTIVE_FROM),
            F.lit(None).cast("timestamp").alias(EFFECTIVE_TO),
            F.lit(None).cast("boolean").alias(IS_CURRENT),
            *[F.lit(None).alias(c) for c in ORDER_COLUMNS],
            F.lit(True).alias("_close"),
            "_close_at",
        )
    )
    return versions.unionByName(closes, allowMissingColumns=True)


# --- the job ----------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:  # pragma: no cover - runs on Glue
    from pyspark.sql import functions as F

    common.configure_logging()
    log = common.LOG
    args = common.parse_job_args(argv, REQUIRED_ARGUMENTS, OPTIONAL_ARGUMENTS)
    namespaces = common.parse_namespaces(args["namespaces"])
    source = common.resolve_table(args["source"], "source", namespaces)
    target = common.resolve_table(args["target"], "target", namespaces)
    keys = [common.parse_identifier(k, "--key") for k in common.parse_list(args["key"], "key")]
    mode = args["mode"]
    if mode not in MODES:
        raise common.JobArgumentError(f"--mode must be current or scd2, got {mode!r}")
    declared = parse_columns(args["columns"])
    table_filter = source_table_filter(args["source-table"])
    catalog = common.parse_identifier(args["catalog"], "--catalog")
    src, tgt = source.qualified(catalog), target.qualified(catalog)

    spark = common.spark_session("flowctl-cdc-silver", catalog, args["warehouse"])
    job = common.glue_job(spark, argv)
    register_functions(spark)

    if not common.table_exists(spark, source, catalog):
        raise RuntimeError(
            f"the bronze table {source} does not exist: run cdc-bronze first, or check --source "
            f"and --namespaces"
        )
    current_rows = spark.sql(f"SELECT snapshot_id FROM {src}.refs WHERE name = 'main'").collect()
    bronze_current = current_rows[0]["snapshot_id"] if current_rows else None
    known = [
        r["snapshot_id"] for r in spark.sql(f"SELECT snapshot_id FROM {src}.snapshots").collect()
    ]
    existing: dict[str, str] = {}
    merged = None
    if common.table_exists(spark, target, catalog):
        existing = {
            f.name: f.dataType.simpleString()
            for f in spark.table(tgt).schema.fields
            if f.name not in RESERVED
        }
        summaries = common.snapshot_summaries(spark, target, catalog)
        props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {tgt}").collect()}
        merged = merged_snapshot(props, summaries[0][1] if summaries else None)
    how, start = plan_source_read(merged, bronze_current, known)
    if how == "none":
        log.info("no bronze snapshot since %s: nothing to merge", merged)
        if job:
            job.commit()
        return 0
    if merged is not None and how == "full":
        log.warning("bronze snapshot %s (last merged) is gone: re-reading all of bronze", merged)
    reader = spark.read.format("iceberg")
    if how == "incremental":
        reader = reader.option("start-snapshot-id", str(start)).option(
            "end-snapshot-id", str(bronze_current)
        )
    else:
        reader = reader.option("snapshot-id", str(bronze_current))
    events = reader.load(src).where("op <> 't'")
    if table_filter:
        events = events.where(table_filter)
    events = events.persist()

    schema_row = (
        events.where(F.col("value_schema").isNotNull())
        .orderBy(*[F.col(c).desc_nulls_last() for c in ("lsn", "source_ts_ms", "kafka_offset")])
        .select("value_schema")
        .limit(1)
        .collect()
    )
    from_schema = connect_columns(schema_row[0]["value_schema"] if schema_row else None)
    inferred = {}
    if not from_schema:
        sample = events.where(F.col("after").isNotNull()).select("after").limit(10000)
        inferred = {
            f.name: f.dataType.simpleString()
            if f.dataType.simpleString() in ("bigint", "double", "boolean", "string")
            else "string"
            for f in spark.read.json(sample.rdd.map(lambda r: r["after"])).schema.fields
            if not f.name.startswith("_corrupt")
        }
    columns = resolve_columns(keys, existing, from_schema, declared, inferred)
    names = [c.name for c in columns]
    if not existing:
        spark.sql(create_target_sql(tgt, columns, mode))
    else:
        added = [c for c in columns if c.name not in existing]
        if added:
            spark.sql(
                f"ALTER TABLE {tgt} ADD COLUMNS ({', '.join(f'{c.name} {c.type}' for c in added)})"
            )
            log.info(
                "new source column(s) added to %s: %s", target, ", ".join(c.name for c in added)
            )

    changes = typed_changes(events, keys, columns)
    missing = (
        changes.where(" OR ".join(f"{k} IS NULL" for k in keys)).select("_at").limit(1).collect()
    )
    if missing:
        raise RuntimeError(
            f"event {missing[0]['_at']} has no value for key column(s) {', '.join(keys)} "
            f"(in `after`, `before` or the Kafka key): check --key"
        )
    # Where supported, the watermark lands in the merge's own snapshot (atomic with the data).
    spark.conf.set(
        f"spark.sql.iceberg.snapshot-property.{SOURCE_SNAPSHOT_KEY}", str(bronze_current)
    )
    if mode == "current":
        latest_per_key(changes, keys).createOrReplaceTempView("flowctl_silver_changes")
        spark.sql(build_merge_sql(tgt, "flowctl_silver_changes", keys, names))
    else:
        current = spark.table(tgt).where(F.col(IS_CURRENT)).select(*keys, *ORDER_COLUMNS)
        scd2_source(changes, current, keys, names).createOrReplaceTempView("flowctl_silver_changes")
        spark.sql(build_scd2_merge_sql(tgt, "flowctl_silver_changes", keys, names))
    spark.conf.unset(f"spark.sql.iceberg.snapshot-property.{SOURCE_SNAPSHOT_KEY}")
    spark.sql(f"ALTER TABLE {tgt} SET TBLPROPERTIES ('{SOURCE_SNAPSHOT_KEY}' = '{bronze_current}')")
    log.info(
        "run %s: merged bronze %s (%s read, up to snapshot %s) into %s (%s)",
        args["run-id"] or "-",
        source,
        how,
        bronze_current,
        target,
        mode,
    )
    events.unpersist()
    if job:
        job.commit()
    return 0


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(main(sys.argv[1:]))
    except common.JobArgumentError as exc:
        print(f"cdc-silver: {exc}", file=sys.stderr)
        sys.exit(2)
