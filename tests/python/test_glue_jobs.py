"""Unit tests of the Glue job scripts (jobs/glue/) without Spark or awsglue.

Run: python3 -m unittest discover -s tests/python -p 'test_glue_*.py'   (or pytest tests/python)
The DataFrame functions are tested with a local SparkSession in test_glue_spark.py.
"""

import base64
import json
import pathlib
import py_compile
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GLUE = ROOT / "jobs" / "glue"
SQL = ROOT / "jobs" / "sql"
sys.path.insert(0, str(GLUE))

import bronze  # noqa: E402
import flowctl_glue as common  # noqa: E402
import gold  # noqa: E402
import silver  # noqa: E402


class ScriptsCompile(unittest.TestCase):
    def test_every_script_compiles(self):
        scripts = sorted(GLUE.glob("*.py"))
        self.assertEqual(
            {p.name for p in scripts},
            {"bronze.py", "silver.py", "gold.py", "flowctl_glue.py"},
        )
        with tempfile.TemporaryDirectory() as tmp:
            for script in scripts:
                py_compile.compile(str(script), cfile=f"{tmp}/{script.name}c", doraise=True)

    def test_awsglue_and_pyspark_are_not_imported_at_module_load(self):
        # Importing the scripts above must not have pulled them in (awsglue is Glue-only).
        self.assertNotIn("awsglue", sys.modules)


class JobArguments(unittest.TestCase):
    def test_glue_style_arguments_with_unknown_ones_ignored(self):
        argv = [
            "--JOB_ID",
            "j_1",
            "--table",
            "cdc_bronze.raw",
            "--topics=a,b",
            "--job-bookmark-option",
            "x",
        ]
        args = common.parse_job_args(argv, ["table", "topics"], {"catalog": "glue_catalog"})
        self.assertEqual(args["table"], "cdc_bronze.raw")
        self.assertEqual(args["topics"], "a,b")
        self.assertEqual(args["catalog"], "glue_catalog")

    def test_missing_arguments_are_named_with_the_fix(self):
        with self.assertRaises(common.JobArgumentError) as ctx:
            common.parse_job_args(["--table", "a.b"], ["table", "topics", "warehouse"])
        message = str(ctx.exception)
        self.assertIn("--topics", message)
        self.assertIn("--warehouse", message)
        self.assertNotIn("--table", message)
        self.assertIn("default arguments", message)

    def test_table_names_are_checked_before_they_reach_sql(self):
        self.assertEqual(
            common.parse_table("cdc_silver.orders", "target").qualified("c"), "c.cdc_silver.orders"
        )
        for bad in ["orders", "a.b.c", "a.b; DROP TABLE x", "", None]:
            with self.assertRaises(common.JobArgumentError, msg=bad):
                common.parse_table(bad, "target")

    def test_local_namespaces_map_to_glue_databases(self):
        # The default is the identity: terraform names the Glue databases as the DAGs and the
        # shared gold SQL do, so Athena runs the SQL files unchanged.
        self.assertEqual(
            common.parse_namespaces(common.DEFAULT_NAMESPACES),
            {"bronze": "bronze", "silver": "silver", "gold": "gold"},
        )
        ns = common.parse_namespaces("bronze=cdc_bronze,silver=cdc_silver,gold=cdc_gold")
        self.assertEqual(
            str(common.resolve_table("bronze.orders_cdc_raw", "table", ns)),
            "cdc_bronze.orders_cdc_raw",
        )
        self.assertEqual(str(common.resolve_table("cdc_silver.x", "target", ns)), "cdc_silver.x")
        with self.assertRaises(common.JobArgumentError):
            common.parse_namespaces("silver")

    def test_lists_and_identifiers(self):
        self.assertEqual(common.parse_list(" a, b ,,c", "key"), ["a", "b", "c"])
        with self.assertRaises(common.JobArgumentError):
            common.parse_list(" , ", "key")
        with self.assertRaises(common.JobArgumentError):
            common.parse_identifier("1abc", "--key")

    def test_iceberg_conf_registers_the_glue_catalog(self):
        conf = common.iceberg_spark_conf("glue_catalog", "s3://wh/warehouse")
        self.assertEqual(
            conf["spark.sql.catalog.glue_catalog.catalog-impl"],
            "org.apache.iceberg.aws.glue.GlueCatalog",
        )
        self.assertEqual(conf["spark.sql.catalog.glue_catalog.warehouse"], "s3://wh/warehouse")
        self.assertIn("IcebergSparkSessionExtensions", conf["spark.sql.extensions"])
        with self.assertRaises(common.JobArgumentError):
            common.iceberg_spark_conf("glue_catalog", "wh/warehouse")

    def test_latest_summary_value_skips_snapshots_of_other_writers(self):
        summaries = [{"operation": "replace"}, None, {"k": "new"}, {"k": "old"}]
        self.assertEqual(common.latest_summary_value(summaries, "k"), "new")
        self.assertIsNone(common.latest_summary_value([{"x": "1"}], "k"))


class BronzeOffsets(unittest.TestCase):
    def test_summary_keys_match_the_local_job(self):
        rust = (ROOT / "crates" / "lakehouse" / "src" / "bronze.rs").read_text()
        self.assertIn(f'OFFSETS_SUMMARY_KEY: &str = "{bronze.OFFSETS_SUMMARY_KEY}"', rust)
        self.assertIn(f'CLUSTER_SUMMARY_KEY: &str = "{bronze.CLUSTER_SUMMARY_KEY}"', rust)
        # Every bronze column name of the local layout is in the Glue table, in order.
        for name, _, _ in bronze.BRONZE_COLUMNS:
            self.assertIn(f'"{name}"', rust, name)

    def test_encode_parse_round_trip_and_garbage(self):
        offsets = {"a": {0: 5, 10: 7}, "b": {1: 0}}
        text = bronze.encode_offsets(offsets)
        self.assertEqual(json.loads(text), {"a": {"0": 5, "10": 7}, "b": {"1": 0}})
        self.assertEqual(bronze.parse_offsets(text), offsets)
        self.assertEqual(bronze.parse_offsets(None), {})
        for bad in ['{"a":{"x":1}}', "[1]", '{"a":{"0":"5"}}', "nope"]:
            with self.assertRaises(ValueError, msg=bad):
                bronze.parse_offsets(bad)

    def test_stored_offsets_are_where_the_run_starts(self):
        wm = bronze.Watermarks
        stored = {"t": {0: 4, 1: 9}, "gone": {0: 3}}
        plan = bronze.plan_offsets(
            stored, "c1", "c1", [wm("t", 0, 0, 10), wm("t", 1, 2, 9), wm("t", 2, 0, 5)]
        )
        self.assertEqual([(r.start, r.end) for r in plan.ranges], [(4, 10), (9, 9), (0, 5)])
        self.assertEqual(plan.notices, [])
        nxt = plan.next_offsets()
        self.assertEqual(nxt, {"t": {0: 10, 1: 9, 2: 5}, "gone": {0: 3}})

    def test_another_cluster_restarts_from_low(self):
        plan = bronze.plan_offsets(
            {"t": {0: 40}, "gone": {0: 3}}, "old", "new", [bronze.Watermarks("t", 0, 2, 50)]
        )
        self.assertEqual(plan.ranges[0].start, 2)
        self.assertIn("cluster old", plan.notices[0])
        self.assertNotIn("gone", plan.next_offsets())

    def test_beyond_the_end_and_below_low_are_reported(self):
        wm = bronze.Watermarks
        plan = bronze.plan_offsets(
            {"t": {0: 100, 1: 1}}, "c", "c", [wm("t", 0, 0, 20), wm("t", 1, 5, 8)]
        )
        self.assertEqual([r.start for r in plan.ranges], [0, 5])
        self.assertIn("beyond the partition's end 20", plan.notices[0])
        self.assertIn("4 event(s) are lost", plan.notices[1])

    def test_kafka_options(self):
        self.assertEqual(
            bronze.parse_kafka_options('{"sasl.mechanism": "AWS_MSK_IAM", "x": 1}'),
            {"sasl.mechanism": "AWS_MSK_IAM", "x": "1"},
        )
        self.assertEqual(bronze.parse_kafka_options(None), {})
        for bad in ["[1]", "{"]:
            with self.assertRaises(common.JobArgumentError):
                bronze.parse_kafka_options(bad)

    def test_spark_ranges_name_every_partition(self):
        plan = bronze.plan_offsets(
            {}, None, "c", [bronze.Watermarks("t", 0, 3, 7), bronze.Watermarks("t", 1, 0, 0)]
        )
        assign, start, end = bronze.spark_kafka_ranges(plan)
        self.assertEqual(json.loads(assign), {"t": [0, 1]})
        self.assertEqual(json.loads(start), {"t": {"0": 3, "1": 0}})
        self.assertEqual(json.loads(end), {"t": {"0": 7, "1": 0}})


ENVELOPE = {
    "before": None,
    "after": {"order_id": 7, "total_amount": "AxQ=", "status": "paid"},
    "source": {
        "db": "shop",
        "schema": "public",
        "table": "orders",
        "lsn": 123,
        "txId": 9,
        "ts_ms": 1000,
    },
    "op": "c",
    "ts_ms": 1005,
}


class BronzeParsing(unittest.TestCase):
    def test_envelope_with_and_without_the_schema_wrapper(self):
        schema = {"type": "struct", "fields": []}
        for value, expected_schema in [
            (ENVELOPE, None),
            ({"schema": schema, "payload": ENVELOPE}, schema),
        ]:
            event = bronze.parse_value(json.dumps(value).encode())
            self.assertEqual(event["op"], "c")
            self.assertEqual(event["lsn"], 123)
            self.assertEqual(event["tx_id"], 9)
            self.assertEqual(event["source_table"], "orders")
            self.assertEqual(event["source_ts_ms"], 1000)
            self.assertEqual(event["ts_ms"], 1005)
            self.assertIsNone(event["before"])
            self.assertEqual(json.loads(event["after"]), ENVELOPE["after"])
            self.assertEqual(
                None if event["value_schema"] is None else json.loads(event["value_schema"]),
                expected_schema,
            )

    def test_tombstones_and_transaction_markers_are_skipped(self):
        for value in [
            None,
            b"",
            b"  ",
            b"null",
            json.dumps({"status": "BEGIN", "id": "571:1"}).encode(),
        ]:
            self.assertIsNone(bronze.parse_value(value), value)
            self.assertEqual(bronze.classify(b'{"id":1}', value)[0], "skip")

    def test_flattened_records(self):
        deleted = {
            "order_id": 7,
            "__deleted": "true",
            "__lsn": 50,
            "__table": "orders",
            "__source_ts_ms": 9,
        }
        event = bronze.parse_value(json.dumps(deleted))
        self.assertEqual(event["op"], "d")
        self.assertEqual(json.loads(event["before"]), {"order_id": 7})
        self.assertIsNone(event["after"])
        self.assertEqual(
            (event["lsn"], event["source_ts_ms"], event["source_table"]), (50, 9, "orders")
        )
        upsert = bronze.parse_value(json.dumps({"order_id": 7, "__op": "u"}))
        self.assertEqual((upsert["op"], json.loads(upsert["after"])), ("u", {"order_id": 7}))

    def test_keys_lose_their_wrapper(self):
        self.assertEqual(
            json.loads(bronze.parse_key(b'{"schema":{"type":"struct"},"payload":{"id":1}}')),
            {"id": 1},
        )
        self.assertEqual(json.loads(bronze.parse_key(b'{"id":1}')), {"id": 1})
        self.assertIsNone(bronze.parse_key(None))
        self.assertIsNone(bronze.parse_key(b"null"))
        with self.assertRaises(bronze.NotAnEvent):
            bronze.parse_key(b'"plain-string"')

    def test_what_does_not_parse_is_a_dead_letter_with_the_reason(self):
        cases = {
            b"{not json": "not valid JSON",
            b"[1,2]": "JSON object",
            json.dumps({"op": "x", "after": {}}).encode(): "unknown Debezium op",
            json.dumps({"after": {"id": 1}}).encode(): "not a Debezium change event",
            json.dumps({**ENVELOPE, "source": {"lsn": "abc"}}).encode(): "source.lsn",
            b"\xff\xfe": "utf-8",
        }
        for value, reason in cases.items():
            kind, event, error = bronze.classify(b'{"id":1}', value)
            self.assertEqual((kind, event), ("dead", None), value)
            self.assertIn(reason, error, value)
        kind, _, error = bronze.classify(b"[1]", json.dumps(ENVELOPE).encode())
        self.assertEqual(kind, "dead")
        self.assertIn("key", error)

    def test_create_table_sql_has_every_column(self):
        sql = bronze.create_table_sql("c.db.t", bronze.BRONZE_COLUMNS)
        self.assertIn("kafka_offset bigint NOT NULL", sql)
        self.assertIn("after string,", sql)
        self.assertIn("'format-version' = '2'", sql)
        self.assertEqual(sql.count("\n  "), len(bronze.BRONZE_COLUMNS))


def b64(unscaled: int, length: int) -> str:
    return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode()


class SilverColumns(unittest.TestCase):
    def test_decimals_decode_exactly(self):
        self.assertEqual(silver.decode_decimal(b64(12345, 2), 2), "123.45")
        self.assertEqual(silver.decode_decimal(b64(-5, 1), 2), "-0.05")
        self.assertEqual(
            silver.decode_decimal(b64(10**30 + 1, 13), 2), "10000000000000000000000000000.01"
        )
        self.assertEqual(silver.decode_decimal(b64(7, 1), 0), "7")
        self.assertIsNone(silver.decode_decimal(None, 2))
        with self.assertRaises(ValueError):
            silver.decode_decimal("not base64!", 2)

    def test_connect_schema_gives_typed_columns(self):
        row = {
            "type": "struct",
            "fields": [
                {"field": "order_id", "type": "int64"},
                {
                    "field": "total_amount",
                    "type": "bytes",
                    "name": "org.apache.kafka.connect.data.Decimal",
                    "parameters": {"scale": "2", "connect.decimal.precision": "12"},
                },
                {"field": "created_at", "type": "int64", "name": "io.debezium.time.MicroTimestamp"},
                {"field": "shipped_on", "type": "int32", "name": "io.debezium.time.Date"},
                {
                    "field": "updated_at",
                    "type": "string",
                    "name": "io.debezium.time.ZonedTimestamp",
                },
                {"field": "qty", "type": "int16"},
                {"field": "tags", "type": "array", "items": {"type": "string"}},
            ],
        }
        schema = {
            "type": "struct",
            "fields": [
                {"field": "before", **row},
                {"field": "after", **row},
                {"field": "source", "type": "struct", "fields": []},
                {"field": "op", "type": "string"},
            ],
        }
        cols = {c.name: c for c in silver.connect_columns(json.dumps(schema))}
        self.assertEqual(
            list(cols),
            ["order_id", "total_amount", "created_at", "shipped_on", "updated_at", "qty", "tags"],
        )
        self.assertEqual((cols["order_id"].type, cols["order_id"].wire), ("bigint", "bigint"))
        self.assertEqual(cols["total_amount"].type, "decimal(12,2)")
        self.assertEqual(
            cols["total_amount"].convert.format(v="x"),
            "CAST(flowctl_decimal(x, 2) AS DECIMAL(12,2))",
        )
        self.assertEqual(cols["created_at"].convert.format(v="x"), "timestamp_micros(x)")
        self.assertEqual(cols["shipped_on"].type, "date")
        self.assertEqual(cols["updated_at"].type, "timestamp")
        self.assertEqual(cols["qty"].type, "int")
        self.assertEqual(cols["tags"].type, "string")
        flattened = {
            "type": "struct",
            "fields": [{"field": "id", "type": "int32"}, {"field": "__op", "type": "string"}],
        }
        self.assertEqual([c.name for c in silver.connect_columns(json.dumps(flattened))], ["id"])
        self.assertEqual(silver.connect_columns(None), [])

    def test_declared_and_existing_types_win(self):
        schema_cols = [
            silver.ColumnSpec("id", "bigint", "bigint"),
            silver.ColumnSpec("amount", "double", "double"),
        ]
        cols = silver.resolve_columns(
            ["id"],
            existing={"id": "bigint", "note": "string"},
            from_schema=schema_cols,
            declared={"amount": "decimal(12,2)", "email": "string"},
            inferred={"email": "bigint", "_cdc_lsn": "bigint"},
        )
        self.assertEqual([c.name for c in cols], ["id", "note", "amount", "email"])
        by = {c.name: c for c in cols}
        self.assertEqual(by["amount"].convert.format(v="v"), "CAST(v AS decimal(12,2))")
        self.assertEqual(by["email"].type, "string")
        self.assertEqual(by["note"].wire, "string")

    def test_columns_argument(self):
        self.assertEqual(
            silver.parse_columns(
                '{"user_id": "BIGINT", "created_at": "timestamptz", "amt": "decimal(12, 2)"}'
            ),
            {"user_id": "bigint", "created_at": "timestamp", "amt": "decimal(12,2)"},
        )
        for bad in ['{"a": "varchar2"}', "[1]", "{nope", '{"a b": "string"}']:
            with self.assertRaises(common.JobArgumentError, msg=bad):
                silver.parse_columns(bad)

    def test_source_table_filter(self):
        self.assertEqual(silver.source_table_filter("orders"), "source_table = 'orders'")
        self.assertEqual(
            silver.source_table_filter("public.orders"),
            "source_schema = 'public' AND source_table = 'orders'",
        )
        self.assertIsNone(silver.source_table_filter(None))
        for bad in ["a.b.c", "o'rders"]:
            with self.assertRaises(common.JobArgumentError):
                silver.source_table_filter(bad)


class SilverIncremental(unittest.TestCase):
    def test_plan_source_read(self):
        self.assertEqual(silver.plan_source_read(5, 5, [1, 5]), ("none", None))
        self.assertEqual(silver.plan_source_read(None, None, []), ("none", None))
        self.assertEqual(silver.plan_source_read(None, 5, [5]), ("full", None))
        self.assertEqual(silver.plan_source_read(3, 5, [3, 5]), ("incremental", 3))
        self.assertEqual(silver.plan_source_read(2, 5, [3, 5]), ("full", None))

    def test_merged_snapshot_prefers_the_property_written_after_every_run(self):
        key = silver.SOURCE_SNAPSHOT_KEY
        self.assertEqual(silver.merged_snapshot({key: "9"}, {key: "7"}), 9)
        self.assertEqual(silver.merged_snapshot({"format-version": "2"}, {key: "7"}), 7)
        self.assertIsNone(silver.merged_snapshot({}, None))
        with self.assertRaises(ValueError):
            silver.merged_snapshot({key: "x"}, {})


class SilverSql(unittest.TestCase):
    def test_current_merge(self):
        sql = silver.build_merge_sql("c.s.orders", "src", ["order_id"], ["order_id", "status"])
        self.assertIn("ON t.order_id = s.order_id", sql)
        self.assertIn("WHEN MATCHED AND s._op = 'd' AND named_struct(", sql)
        self.assertIn("THEN DELETE", sql)
        self.assertIn("status = CASE WHEN s._toast_status THEN t.status ELSE s.status END", sql)
        self.assertNotIn("order_id = CASE", sql, "keys are never updated")
        self.assertIn(
            "INSERT (order_id, status, _cdc_lsn, _cdc_source_ts_ms, _cdc_offset, _cdc_partition)",
            sql,
        )
        self.assertIn("WHEN NOT MATCHED AND s._op <> 'd'", sql)
        self.assertIn("VALUES (s.order_id, CASE WHEN s._toast_status THEN NULL ELSE s.status END, s._cdc_lsn", sql)

    def test_newer_condition_orders_lsn_then_time_then_offset_with_missing_first(self):
        cond = silver.newer_condition("s", "t")
        left, right = cond.split(" > ")
        self.assertEqual(left.replace("s.", "t."), right)
        self.assertLess(left.index("_cdc_lsn"), left.index("_cdc_source_ts_ms"))
        self.assertLess(left.index("_cdc_source_ts_ms"), left.index("_cdc_offset"))
        self.assertIn("coalesce(s._cdc_lsn, -9223372036854775808)", left)

    def test_scd2_merge_closes_then_inserts(self):
        sql = silver.build_scd2_merge_sql("c.s.users", "src", ["id"], ["id", "email"])
        self.assertIn("ON t.id = s.id AND t.is_current AND s._close", sql)
        self.assertIn("UPDATE SET effective_to = s._close_at, is_current = false", sql)
        self.assertIn(
            "WHEN NOT MATCHED AND NOT s._close THEN INSERT (id, email, effective_from, effective_to, is_current",
            sql,
        )

    def test_create_target(self):
        cols = [silver.ColumnSpec("id", "bigint", "bigint")]
        self.assertIn("is_current boolean", silver.create_target_sql("t", cols, "scd2"))
        current = silver.create_target_sql("t", cols, "current")
        self.assertNotIn("is_current", current)
        self.assertIn("_cdc_partition int", current)


class Gold(unittest.TestCase):
    MAP = {"silver": "cdc_silver", "gold": "cdc_gold", "bronze": "cdc_bronze"}

    def test_namespaces_are_mapped_in_every_shared_sql_file(self):
        files = sorted(SQL.glob("*.sql"))
        self.assertGreaterEqual(len(files), 3)
        for path in files:
            sql = path.read_text()
            mapped = gold.map_namespaces(sql, self.MAP, "glue_catalog")
            code = "\n".join(line.split("--")[0] for line in mapped.splitlines())
            self.assertIn("glue_catalog.cdc_silver.", code, path.name)
            self.assertNotRegex(code, r"(?<![\w.])silver\.", path.name)

    def test_aliases_literals_and_comments_are_left_alone(self):
        sql = "SELECT o.status, 'silver.x' AS s FROM silver.orders AS o -- silver.y\nJOIN gold.g ON date_trunc('hour', o.t) = g.t"
        self.assertEqual(
            gold.map_namespaces(sql, self.MAP, "cat"),
            "SELECT o.status, 'silver.x' AS s FROM cat.cdc_silver.orders AS o -- silver.y\n"
            "JOIN cat.cdc_gold.g ON date_trunc('hour', o.t) = g.t",
        )

    def test_arguments_and_statement(self):
        self.assertEqual(
            common.parse_namespaces(gold.DEFAULT_NAMESPACES),
            {"bronze": "bronze", "silver": "silver", "gold": "gold"},
        )
        self.assertEqual(gold.strip_statement(" SELECT 1 ;; \n"), "SELECT 1")
        with self.assertRaises(ValueError):
            gold.strip_statement(" ; ")
        self.assertTrue(
            gold.replace_sql("c.g.t", "SELECT 1").startswith(
                "CREATE OR REPLACE TABLE c.g.t USING iceberg"
            )
        )


try:
    import yaml

    HAVE_YAML = True
except ImportError:
    HAVE_YAML = False
    print(
        "test_glue_jobs: PyYAML is not installed, the DAG argument check is skipped",
        file=sys.stderr,
    )

# Arguments terraform/modules/glue_jobs sets as the jobs' default arguments.
TERRAFORM_DEFAULTS = {"warehouse", "bootstrap-servers"}
SCRIPTS = {"cdc-bronze": bronze, "cdc-silver": silver, "cdc-gold": gold}


@unittest.skipUnless(HAVE_YAML, "PyYAML is not installed")
class DagArguments(unittest.TestCase):
    """Every `glue_job` step of dags/ passes only arguments its script knows, and with the
    terraform defaults every required one."""

    def glue_steps(self):
        for path in sorted((ROOT / "dags").glob("*.yaml")):
            dag = yaml.safe_load(path.read_text()) or {}
            for step_id, step in (dag.get("steps") or {}).items():
                for variant in (step, step.get("aws") or {}):
                    if isinstance(variant, dict) and variant.get("type") == "glue_job":
                        yield f"{path.name}:{step_id}", variant

    def test_dag_arguments_are_accepted_by_the_scripts(self):
        checked = 0
        for where, step in self.glue_steps():
            job = step.get("job_name")
            self.assertIn(job, SCRIPTS, f"{where}: job {job} has no script in jobs/glue/")
            module = SCRIPTS[job]
            known = set(module.REQUIRED_ARGUMENTS) | set(module.OPTIONAL_ARGUMENTS)
            passed = {k[2:] for k in (step.get("arguments") or {})}
            self.assertTrue(all(k.startswith("--") for k in (step.get("arguments") or {})), where)
            self.assertLessEqual(passed, known, f"{where}: unknown argument(s) for {job}")
            missing = set(module.REQUIRED_ARGUMENTS) - passed - TERRAFORM_DEFAULTS
            self.assertEqual(missing, set(), f"{where}: {job} needs these arguments")
            checked += 1
        print(f"test_glue_jobs: {checked} glue_job step(s) of dags/ checked", file=sys.stderr)

    def test_scripts_parse_what_the_dag_passes(self):
        for _where, step in self.glue_steps():
            module = SCRIPTS[step["job_name"]]
            argv = [x for k, v in (step.get("arguments") or {}).items() for x in (k, str(v))]
            argv += ["--warehouse", "s3://wh/", "--bootstrap-servers", "b:9092"]
            args = common.parse_job_args(argv, module.REQUIRED_ARGUMENTS, module.OPTIONAL_ARGUMENTS)
            for name in ("table", "source", "target"):
                if args.get(name) and "{{" not in args[name]:
                    common.resolve_table(
                        args[name], name, common.parse_namespaces(args["namespaces"])
                    )


if __name__ == "__main__":
    unittest.main()
