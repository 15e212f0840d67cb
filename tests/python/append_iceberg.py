#!/usr/bin/env python3
"""Append JSON rows to an Iceberg table with PyIceberg (the reverse interop direction).

Usage: append_iceberg.py --catalog-db PATH --warehouse DIR --table ns.table --rows '[{...}]'
       [--name flowctl] [--property key=value ...]

Rows are converted with the table's own Arrow schema; properties go into the snapshot summary.
Exit status 3 means PyIceberg is not installed.
"""

import argparse
import json
import sys

try:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
except ImportError as exc:  # pragma: no cover - depends on the environment
    print(f"pyiceberg is not installed: {exc}", file=sys.stderr)
    sys.exit(3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog-db", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--name", default="flowctl")
    parser.add_argument("--table", required=True)
    parser.add_argument("--rows", required=True, help="JSON list of row objects")
    parser.add_argument("--property", action="append", default=[], help="key=value")
    args = parser.parse_args()

    catalog = SqlCatalog(
        args.name,
        uri=f"sqlite:///{args.catalog_db}",
        warehouse=f"file://{args.warehouse}",
    )
    table = catalog.load_table(args.table)
    schema = table.schema().as_arrow()
    data = pa.Table.from_pylist(json.loads(args.rows), schema=schema)
    properties = dict(item.split("=", 1) for item in args.property)
    table.append(data, snapshot_properties=properties)
    print(json.dumps({"snapshot_id": table.current_snapshot().snapshot_id}))


if __name__ == "__main__":
    main()
