"""Glue job `cdc-gold`: runs a gold SQL file over the Glue catalog and replaces a target table.

The SQL files are the ones in jobs/sql/, written against the local namespaces (`silver.x`,
`gold.x`); `--namespaces` maps them to the Glue databases (default `bronze=bronze,
silver=silver,gold=gold`), so the same file runs locally, on Athena and here. The
result replaces the target atomically (`CREATE OR REPLACE TABLE ... AS`: one Iceberg commit;
readers see the old or the new table, never a half-written one).

Spark SQL dialect note: `/` between integers is a fractional division in Spark (integer
division in DataFusion and Trino): the shared files use FLOOR where it matters.

Arguments (`--key value`):
  --sql-file    the SQL file: s3://bucket/key or a local path (required)
  --target      gold table `database.table` (required; `gold.x` maps like the SQL's names)
  --namespaces  `local=glue_database` pairs, comma-separated (default above)
  --run-id      the flowctl run (logged)
  --warehouse   s3:// warehouse URI (required)
  --catalog     Spark catalog name (default glue_catalog)
"""

from __future__ import annotations

import re
import sys
from typing import Mapping, Sequence

import flowctl_glue as common

DEFAULT_NAMESPACES = common.DEFAULT_NAMESPACES

# The job's arguments (see the module doc); terraform sets --warehouse as a default argument.
REQUIRED_ARGUMENTS = ["sql-file", "target", "warehouse"]
OPTIONAL_ARGUMENTS = {
    "namespaces": DEFAULT_NAMESPACES,
    "catalog": common.DEFAULT_CATALOG,
    "run-id": None,
}

# A string literal, a quoted identifier, a comment, or a `namespace.table` reference. Literals,
# quoted names and comments are matched first so references inside them are left alone.
_TOKENS = re.compile(
    r"""(?P<skip>'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|--[^\n]*|/\*.*?\*/)"""
    r"""|(?P<ref>(?<![\w.])(?P<ns>[A-Za-z_][A-Za-z0-9_]*)\.(?P<table>[A-Za-z_][A-Za-z0-9_]*)(?![\w(]))""",
    re.DOTALL,
)


def map_namespaces(sql: str, namespaces: Mapping[str, str], catalog: str) -> str:
    """Rewrites `ns.table` references of mapped namespaces to `catalog.glue_db.table`.

    Only two-part names whose first part is a mapped namespace change; column references such
    as `o.created_at` (an alias), string literals, quoted identifiers and comments do not.
    """

    def replace(m: re.Match) -> str:
        if m.group("ref") and m.group("ns") in namespaces:
            return f"{catalog}.{namespaces[m.group('ns')]}.{m.group('table')}"
        return m.group(0)

    return _TOKENS.sub(replace, sql)


def strip_statement(sql: str) -> str:
    """The query without trailing `;` and whitespace (CTAS takes one query)."""
    body = sql.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    if not body:
        raise ValueError("the SQL file is empty")
    return body


def replace_sql(target: str, query: str) -> str:
    """One statement that replaces the target with the query's result."""
    return (
        f"CREATE OR REPLACE TABLE {target} USING iceberg\n"
        "TBLPROPERTIES ('format-version' = '2', 'write.parquet.compression-codec' = 'zstd')\n"
        f"AS\n{query}"
    )


def read_sql_file(location: str) -> str:  # pragma: no cover - S3 needs AWS
    """The SQL text from S3 (boto3 is on every Glue worker) or a local path."""
    if location.startswith("s3://"):
        import boto3

        bucket, _, key = location[len("s3://") :].partition("/")
        if not bucket or not key:
            raise common.JobArgumentError(f"--sql-file must be s3://bucket/key, got {location!r}")
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode("utf-8")
    with open(location, encoding="utf-8") as f:
        return f.read()


def main(argv: Sequence[str]) -> int:  # pragma: no cover - runs on Glue
    common.configure_logging()
    args = common.parse_job_args(argv, REQUIRED_ARGUMENTS, OPTIONAL_ARGUMENTS)
    namespaces = common.parse_namespaces(args["namespaces"])
    target = common.resolve_table(args["target"], "target", namespaces)
    catalog = common.parse_identifier(args["catalog"], "--catalog")
    query = map_namespaces(strip_statement(read_sql_file(args["sql-file"])), namespaces, catalog)
    spark = common.spark_session("flowctl-cdc-gold", catalog, args["warehouse"])
    job = common.glue_job(spark, argv)
    spark.sql(replace_sql(target.qualified(catalog), query))
    rows = spark.table(target.qualified(catalog)).count()
    common.LOG.info("%s replaced from %s: %d row(s)", target, args["sql-file"], rows)
    if job:
        job.commit()
    return 0


if __name__ == "__main__":  # pragma: no cover
    try:
        sys.exit(main(sys.argv[1:]))
    except common.JobArgumentError as exc:
        print(f"cdc-gold: {exc}", file=sys.stderr)
        sys.exit(2)
