"""Helpers shared by flowctl's Glue jobs (bronze.py, silver.py, gold.py).

Glue ships this file to the driver and executors through the jobs' `--extra-py-files`
default argument (see terraform/modules/glue_jobs). Everything here is plain Python except
`spark_session` and `snapshot_summaries`, which need a SparkSession; the pure parts are
unit-tested without Spark (tests/python/test_glue_common.py).

Conventions every job follows:
* arguments are `--key value` (Glue's style); unknown arguments (Glue adds its own, such as
  `--JOB_ID` or `--job-bookmark-option`) are ignored;
* tables are named `database.table` in the Glue catalog and addressed through one Spark
  catalog (default `glue_catalog`);
* a bad argument stops the job before Spark starts, with a message saying what and how to fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

LOG = logging.getLogger("flowctl.glue")

# The Iceberg Spark catalog the jobs register (the name only matters inside a job).
DEFAULT_CATALOG = "glue_catalog"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class JobArgumentError(ValueError):
    """A job argument is missing or invalid: the message says which and how to fix it."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so errors carry the job's wording."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise JobArgumentError(message)


def parse_job_args(
    argv: Sequence[str],
    required: Iterable[str],
    optional: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Parses Glue job arguments (`--key value` or `--key=value`).

    `required` names arguments without a default; `optional` maps names to defaults. Returns a
    dict keyed by the argument name as written (dashes kept, e.g. `source-table`). Arguments not
    declared are ignored: Glue passes its own (`--JOB_ID`, `--JOB_RUN_ID`, `--TempDir`, ...).
    """
    parser = _Parser(add_help=False, allow_abbrev=False)
    required = list(required)
    optional = dict(optional or {})
    for name in required:
        parser.add_argument(f"--{name}", dest=name, default=None)
    for name, default in optional.items():
        parser.add_argument(f"--{name}", dest=name, default=default)
    known, _unknown = parser.parse_known_args(list(argv))
    values = vars(known)
    missing = [n for n in required if not values.get(n)]
    if missing:
        listed = ", ".join(f"--{n}" for n in missing)
        raise JobArgumentError(
            f"missing job argument(s) {listed}: pass them in the Glue job's default arguments "
            f"(terraform/modules/glue_jobs) or in the DAG step's `arguments`"
        )
    return values


@dataclass(frozen=True)
class TableRef:
    """A Glue catalog table, `database.table`."""

    database: str
    table: str

    def qualified(self, catalog: str = DEFAULT_CATALOG) -> str:
        """The name Spark SQL uses: `catalog.database.table`."""
        return f"{catalog}.{self.database}.{self.table}"

    def __str__(self) -> str:
        return f"{self.database}.{self.table}"


def parse_table(text: str | None, argument: str) -> TableRef:
    """Parses `database.table` (identifiers only: they are interpolated into SQL)."""
    parts = (text or "").split(".")
    if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
        raise JobArgumentError(
            f"--{argument} must be `database.table` with letters, digits and underscores "
            f"(e.g. bronze.orders_cdc_raw), got {text!r}"
        )
    return TableRef(parts[0], parts[1])


# Local namespaces (as DAGs and the local target name them) → Glue catalog databases (as
# terraform/modules/glue_catalog creates them). Every job takes `--namespaces` to change it.
DEFAULT_NAMESPACES = "bronze=bronze,silver=silver,gold=gold"


def parse_namespaces(text: str | None) -> dict[str, str]:
    """`--namespaces`: `local=glue_database` pairs, comma-separated."""
    out: dict[str, str] = {}
    for pair in parse_list(text, "namespaces"):
        local, sep, glue = pair.partition("=")
        if not sep:
            raise JobArgumentError(
                f"--namespaces entries are `local=glue_database` (e.g. silver=acme_silver), got {pair!r}"
            )
        out[parse_identifier(local.strip(), "--namespaces")] = parse_identifier(
            glue.strip(), "--namespaces"
        )
    return out


def resolve_table(text: str | None, argument: str, namespaces: Mapping[str, str]) -> TableRef:
    """A table argument in the Glue catalog: `bronze.x` stays `bronze.x` under the default (identity)
    mapping, so a DAG may name tables as the local target does; a Glue database name is kept."""
    ref = parse_table(text, argument)
    return TableRef(namespaces.get(ref.database, ref.database), ref.table)


def parse_identifier(text: str, what: str) -> str:
    """Checks a column or catalog name before it is interpolated into SQL."""
    if not _IDENT.match(text or ""):
        raise JobArgumentError(
            f"{what} must be letters, digits and underscores (not starting with a digit), got {text!r}"
        )
    return text


def parse_list(text: str | None, argument: str) -> list[str]:
    """A comma-separated argument (`a,b, c`) as a list without blanks; empty is an error."""
    items = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not items:
        raise JobArgumentError(f"--{argument} must list at least one value (comma-separated)")
    return items


def iceberg_spark_conf(catalog: str, warehouse: str) -> dict[str, str]:
    """Spark settings that register `catalog` as the Glue Data Catalog with Iceberg tables on S3.

    Glue 5 with `--datalake-formats iceberg` puts the Iceberg runtime on the classpath; these
    settings must be in place before the SparkSession is created.
    """
    parse_identifier(catalog, "--catalog")
    if not warehouse.startswith("s3://") and not warehouse.startswith("file:"):
        raise JobArgumentError(
            f"--warehouse must be an s3:// URI (the warehouse bucket), got {warehouse!r}"
        )
    prefix = f"spark.sql.catalog.{catalog}"
    return {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.warehouse": warehouse,
    }


def spark_session(app: str, catalog: str, warehouse: str):  # pragma: no cover - needs Spark
    """The job's SparkSession with the Iceberg Glue catalog registered."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app)
    for key, value in iceberg_spark_conf(catalog, warehouse).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def glue_job(spark, argv: Sequence[str]):  # pragma: no cover - needs Glue
    """Starts the Glue job bookkeeping when running on Glue; `None` under plain spark-submit.

    awsglue is not on PyPI: it exists only on Glue workers, so it is imported here, never at
    module load (the tests import the job modules without it).
    """
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
    except ImportError:
        LOG.info("awsglue not available: running under plain Spark")
        return None
    glue_context = GlueContext(spark.sparkContext)
    job = Job(glue_context)
    names = ["JOB_NAME"] if "--JOB_NAME" in argv else []
    # getResolvedOptions skips argv[0] (the script), as sys.argv has it.
    resolved = getResolvedOptions([sys.argv[0], *argv], names)
    job.init(resolved.get("JOB_NAME", "flowctl"), resolved)
    return job


def latest_summary_value(summaries: Iterable[Mapping[str, str] | None], key: str) -> str | None:
    """The value of `key` in the newest snapshot summary that has it.

    `summaries` are newest first. Another writer may commit on top without flowctl's keys
    (compaction, a manual fix): that must not reset what flowctl stored, so older snapshots
    are searched too.
    """
    for summary in summaries:
        if summary and key in summary:
            return summary[key]
    return None


def snapshot_summaries(spark, table: TableRef, catalog: str):  # pragma: no cover - needs Spark
    """(snapshot id, summary) of the table's snapshots, newest first; [] for a table without any."""
    rows = spark.sql(
        f"SELECT snapshot_id, summary FROM {table.qualified(catalog)}.snapshots "
        "ORDER BY committed_at DESC"
    ).collect()
    return [(row["snapshot_id"], dict(row["summary"] or {})) for row in rows]


def table_exists(spark, table: TableRef, catalog: str) -> bool:  # pragma: no cover - needs Spark
    """Whether the table exists in the catalog."""
    return spark.catalog.tableExists(table.qualified(catalog))


def configure_logging() -> None:
    """Log lines go to stderr, which Glue sends to CloudWatch (`/aws-glue/jobs/error`)."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def to_json(value) -> str:
    """Compact, key-sorted JSON (stable text for snapshot summaries and logs)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
