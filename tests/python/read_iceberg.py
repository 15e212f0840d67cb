#!/usr/bin/env python3
"""Read flowctl's Iceberg tables with PyIceberg and print them as JSON (interop proof).

Usage:
  read_iceberg.py --catalog-db PATH --warehouse DIR [--name flowctl]
                  [--table ns.table ...] [--filter "ns.table=<row filter>" ...]

Prints one JSON object: {"tables": {"ns.table": {"rows": [...], "snapshot_id": ...,
"summary": {...}, "snapshots": [...], "filtered": {"<filter>": [...]}}}}.
Rows are sorted by their JSON text so the output is deterministic. Values are made JSON-exact:
decimals as strings ("30.50"), dates and timestamps in ISO 8601 (timestamptz in UTC with
"+00:00"), bytes as lowercase hex. With no --table, every table of every namespace is read.

Exit status 3 means PyIceberg is not installed (callers may skip); anything else non-zero is a
real failure.
"""

import argparse
import datetime
import decimal
import json
import sys

try:
    from pyiceberg.catalog.sql import SqlCatalog
except ImportError as exc:  # pragma: no cover - depends on the environment
    print(f"pyiceberg is not installed: {exc}", file=sys.stderr)
    sys.exit(3)


def plain(value):
    """Converts a PyArrow-produced Python value to exact JSON."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def rows_of(arrow_table):
    rows = [{k: plain(v) for k, v in row.items()} for row in arrow_table.to_pylist()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog-db", required=True, help="SQLite catalog file")
    parser.add_argument("--warehouse", required=True, help="warehouse directory")
    parser.add_argument("--name", default="flowctl", help="catalog name")
    parser.add_argument("--table", action="append", default=[])
    parser.add_argument("--filter", action="append", default=[], help="ns.table=<row filter>")
    args = parser.parse_args()

    catalog = SqlCatalog(
        args.name,
        uri=f"sqlite:///{args.catalog_db}",
        warehouse=f"file://{args.warehouse}",
    )
    names = args.table
    if not names:
        for namespace in catalog.list_namespaces():
            for ident in catalog.list_tables(namespace):
                names.append(".".join(ident))
    filters = {}
    for item in args.filter:
        table, _, expression = item.partition("=")
        filters.setdefault(table, []).append(expression)

    out = {}
    for name in sorted(names):
        table = catalog.load_table(name)
        snapshot = table.current_snapshot()
        entry = {
            "rows": rows_of(table.scan().to_arrow()),
            "snapshot_id": snapshot.snapshot_id if snapshot else None,
            "summary": dict(snapshot.summary.additional_properties) if snapshot else {},
            "operation": snapshot.summary.operation.value if snapshot else None,
            "snapshots": [
                {
                    "snapshot_id": s.snapshot_id,
                    "parent_id": s.parent_snapshot_id,
                    "operation": s.summary.operation.value if s.summary else None,
                }
                for s in table.snapshots()
            ],
            "filtered": {
                expression: rows_of(table.scan(row_filter=expression).to_arrow())
                for expression in filters.get(name, [])
            },
        }
        out[name] = entry
    json.dump({"tables": out}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
