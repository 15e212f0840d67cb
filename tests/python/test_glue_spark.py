"""The Glue jobs' DataFrame functions on a local SparkSession (no Iceberg, no AWS).

Needs `pyspark` (pip install 'pyspark==3.5.*') and Java 17. Without pyspark the tests are
skipped with a message; set FLOWCTL_REQUIRE_PYSPARK=1 to make a missing pyspark a failure.
"""

import base64
import datetime
import json
import os
import pathlib
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jobs" / "glue"))

import bronze  # noqa: E402
import gold  # noqa: E402
import silver  # noqa: E402

try:
    from pyspark.sql import Row, SparkSession
    from pyspark.sql import types as T

    HAVE_SPARK = True
except ImportError:
    HAVE_SPARK = False
    if os.environ.get("FLOWCTL_REQUIRE_PYSPARK") == "1":
        raise
    print(
        "test_glue_spark: pyspark is not installed, Spark tests skipped "
        "(pip install 'pyspark==3.5.*' to run them)",
        file=sys.stderr,
    )


def event(op, key, after=None, before=None, lsn=None, ts=1000, table="orders"):
    return json.dumps(
        {
            "before": before,
            "after": after,
            "source": {"schema": "public", "table": table, "lsn": lsn, "ts_ms": ts},
            "op": op,
            "ts_ms": ts + 5,
        }
    ).encode()


@unittest.skipUnless(HAVE_SPARK, "pyspark is not installed")
class SparkJobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.warehouse = tempfile.TemporaryDirectory()
        cls.spark = (
            SparkSession.builder.master("local[1]")
            .config("spark.sql.warehouse.dir", cls.warehouse.name)
            .appName("flowctl-glue-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        # Python workers import the job modules as Glue's --extra-py-files makes them do.
        for name in ("flowctl_glue.py", "bronze.py", "silver.py"):
            cls.spark.sparkContext.addPyFile(str(ROOT / "jobs" / "glue" / name))
        silver.register_functions(cls.spark)

    @classmethod
    def tearDownClass(cls):
        cls.spark.stop()
        cls.warehouse.cleanup()

    def messages(self, items):
        schema = T.StructType(
            [
                T.StructField("key", T.BinaryType()),
                T.StructField("value", T.BinaryType()),
                T.StructField("topic", T.StringType()),
                T.StructField("partition", T.IntegerType()),
                T.StructField("offset", T.LongType()),
                T.StructField("timestamp", T.TimestampType()),
            ]
        )
        ts = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
        rows = [(k, v, "shop.public.orders", 0, i, ts) for i, (k, v) in enumerate(items)]
        return self.spark.createDataFrame(rows, schema)

    def bronze_rows(self, items):
        at = datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc)
        rows, dead = bronze.split_messages(self.messages(items), at)
        return rows, dead

    def test_bronze_split_keeps_events_skips_tombstones_and_dead_letters_the_rest(self):
        items = [
            (b'{"order_id":1}', event("c", 1, after={"order_id": 1, "status": "new"}, lsn=10)),
            (b'{"order_id":1}', None),
            (b'{"order_id":2}', b"{oops"),
            (
                b'{"schema":{},"payload":{"order_id":1}}',
                event("d", 1, before={"order_id": 1}, lsn=11),
            ),
        ]
        rows, dead = self.bronze_rows(items)
        self.assertEqual(rows.columns, [c for c, _, _ in bronze.BRONZE_COLUMNS])
        got = [r.asDict() for r in rows.orderBy("kafka_offset").collect()]
        self.assertEqual(
            [(r["kafka_offset"], r["op"], r["lsn"]) for r in got], [(0, "c", 10), (3, "d", 11)]
        )
        self.assertEqual(json.loads(got[1]["kafka_key"]), {"order_id": 1})
        self.assertEqual(got[0]["kafka_timestamp_ms"], 1793491200000)
        self.assertEqual(got[0]["source_table"], "orders")
        self.assertEqual(json.loads(got[0]["after"]), {"order_id": 1, "status": "new"})
        letters = dead.collect()
        self.assertEqual(
            [(d["kafka_offset"], bytes(d["raw_value"])) for d in letters], [(2, b"{oops")]
        )
        self.assertIn("not valid JSON", letters[0]["error"])
        self.assertEqual(dead.columns, [c for c, _, _ in bronze.DLQ_COLUMNS])

    def changes(self, items, columns):
        rows, _ = self.bronze_rows(items)
        return silver.typed_changes(rows, ["order_id"], columns)

    COLUMNS = [
        silver.ColumnSpec("order_id", "bigint", "bigint"),
        silver.ColumnSpec("status", "string", "string"),
        silver.ColumnSpec(
            "total", "decimal(12,2)", "string", "CAST(flowctl_decimal({v}, 2) AS DECIMAL(12,2))"
        ),
    ]

    def test_typed_changes_decode_decimals_and_take_delete_keys_from_before_or_the_kafka_key(self):
        amount = base64.b64encode((-12345).to_bytes(2, "big", signed=True)).decode()
        items = [
            (
                b'{"order_id":1}',
                event("c", 1, after={"order_id": 1, "status": "new", "total": amount}, lsn=5),
            ),
            (b'{"order_id":2}', event("d", 2, before=None, lsn=6)),
            (
                b'{"order_id":3}',
                event(
                    "u", 3, after={"order_id": 3, "status": "__debezium_unavailable_value"}, lsn=7
                ),
            ),
        ]
        got = {r["order_id"]: r for r in self.changes(items, self.COLUMNS).collect()}
        self.assertEqual(str(got[1]["total"]), "-123.45")
        self.assertEqual(got[2]["_op"], "d")
        self.assertTrue(got[3]["_toast_status"])
        self.assertFalse(got[1]["_toast_status"])
        self.assertEqual(got[1]["_ts"], datetime.datetime(1970, 1, 1, 0, 0, 1))

    def test_latest_per_key_orders_by_lsn_then_time_then_offset(self):
        after = lambda s: {"order_id": 1, "status": s}  # noqa: E731
        items = [
            (b'{"order_id":1}', event("u", 1, after=after("lsn-high"), lsn=20, ts=1)),
            (b'{"order_id":1}', event("u", 1, after=after("lsn-low-later-offset"), lsn=10, ts=9)),
            (
                b'{"order_id":2}',
                event("r", 2, after={"order_id": 2, "status": "a"}, lsn=None, ts=5),
            ),
            (
                b'{"order_id":2}',
                event("r", 2, after={"order_id": 2, "status": "b"}, lsn=None, ts=5),
            ),
            (b'{"order_id":3}', event("c", 3, after={"order_id": 3, "status": "x"}, lsn=30)),
            (b'{"order_id":3}', event("d", 3, before={"order_id": 3}, lsn=31)),
        ]
        latest = silver.latest_per_key(self.changes(items, self.COLUMNS), ["order_id"])
        got = {r["order_id"]: (r["_op"], r["status"]) for r in latest.collect()}
        self.assertEqual(got, {1: ("u", "lsn-high"), 2: ("r", "b"), 3: ("d", None)})

    def test_newer_condition_evaluates_in_spark(self):
        s = self.spark.createDataFrame(
            [
                Row(k=1, _cdc_lsn=None, _cdc_source_ts_ms=5, _cdc_offset=9, _cdc_partition=0),
                Row(k=2, _cdc_lsn=20, _cdc_source_ts_ms=1, _cdc_offset=1, _cdc_partition=0),
                Row(k=3, _cdc_lsn=10, _cdc_source_ts_ms=1, _cdc_offset=1, _cdc_partition=0),
            ],
            "k int, _cdc_lsn bigint, _cdc_source_ts_ms bigint, _cdc_offset bigint, _cdc_partition int",
        )
        t = self.spark.createDataFrame(
            [
                Row(k=1, _cdc_lsn=1, _cdc_source_ts_ms=1, _cdc_offset=1, _cdc_partition=0),
                Row(k=2, _cdc_lsn=10, _cdc_source_ts_ms=9, _cdc_offset=9, _cdc_partition=0),
                Row(k=3, _cdc_lsn=10, _cdc_source_ts_ms=1, _cdc_offset=1, _cdc_partition=0),
            ],
            "k int, _cdc_lsn bigint, _cdc_source_ts_ms bigint, _cdc_offset bigint, _cdc_partition int",
        )
        s.createOrReplaceTempView("s")
        t.createOrReplaceTempView("t")
        rows = self.spark.sql(
            f"SELECT s.k, {silver.newer_condition()} AS newer FROM s JOIN t ON s.k = t.k ORDER BY s.k"
        ).collect()
        # A missing LSN is older than any LSN; a higher LSN wins; the same change is not newer.
        self.assertEqual([r["newer"] for r in rows], [False, True, False])

    def test_scd2_source_closes_current_versions_and_opens_new_ones(self):
        after = lambda s: {"order_id": 1, "status": s}  # noqa: E731
        items = [
            (b'{"order_id":1}', event("u", 1, after=after("old-redelivered"), lsn=5, ts=500)),
            (b'{"order_id":1}', event("u", 1, after=after("v2"), lsn=20, ts=2000)),
            (b'{"order_id":1}', event("u", 1, after=after("v3"), lsn=30, ts=3000)),
            (
                b'{"order_id":2}',
                event("c", 2, after={"order_id": 2, "status": "n"}, lsn=40, ts=4000),
            ),
            (b'{"order_id":2}', event("d", 2, before={"order_id": 2}, lsn=41, ts=4100)),
        ]
        changes = self.changes(items, self.COLUMNS)
        current = self.spark.createDataFrame(
            [Row(order_id=1, _cdc_lsn=10, _cdc_source_ts_ms=1000, _cdc_offset=0, _cdc_partition=0)],
            "order_id bigint, _cdc_lsn bigint, _cdc_source_ts_ms bigint, _cdc_offset bigint, _cdc_partition int",
        )
        src = silver.scd2_source(changes, current, ["order_id"], ["order_id", "status", "total"])
        rows = src.collect()
        closes = {r["order_id"]: r["_close_at"] for r in rows if r["_close"]}
        versions = sorted(
            (r["order_id"], r["status"], r["effective_from"], r["effective_to"], r["is_current"])
            for r in rows
            if not r["_close"]
        )
        t = lambda ms: datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)  # noqa: E731
        self.assertEqual(closes, {1: t(2000), 2: t(4000)})
        self.assertEqual(
            versions,
            [
                (1, "v2", t(2000), t(3000), False),
                (1, "v3", t(3000), None, True),
                (2, "n", t(4000), t(4100), False),
            ],
        )

    def test_generated_sql_parses_in_spark(self):
        # Spark's own parser knows MERGE INTO and CTAS; the Iceberg runtime (not on PyPI) only
        # executes them. A syntax error in the generated statements fails here.
        parse = self.spark._jsparkSession.sessionState().sqlParser().parsePlan
        cols = ["order_id", "status"]
        specs = [silver.ColumnSpec("order_id", "bigint", "bigint"), silver.ColumnSpec("status", "string", "string")]
        statements = [
            silver.build_merge_sql("glue_catalog.cdc_silver.o", "src", ["order_id"], cols),
            silver.build_scd2_merge_sql("glue_catalog.cdc_silver.o", "src", ["order_id"], cols),
            silver.create_target_sql("glue_catalog.cdc_silver.o", specs, "scd2"),
            bronze.create_table_sql("glue_catalog.cdc_bronze.raw", bronze.BRONZE_COLUMNS),
            bronze.create_table_sql("glue_catalog.cdc_bronze.raw_dlq", bronze.DLQ_COLUMNS),
            gold.replace_sql("glue_catalog.cdc_gold.alerts", "SELECT 1 AS x"),
        ]
        for sql in statements:
            plan = parse(sql)
            self.assertIsNotNone(plan, sql)
        self.assertIn("MergeIntoTable", parse(statements[0]).getClass().getName())

    def gold_query(self, name):
        sql = (ROOT / "jobs" / "sql" / name).read_text()
        mapped = gold.map_namespaces(
            gold.strip_statement(sql), {"silver": "cdc_silver"}, "spark_catalog"
        )
        return self.spark.sql(mapped).collect()

    def silver_tables(self):
        self.spark.sql("CREATE DATABASE IF NOT EXISTS cdc_silver")
        self.spark.sql(
            "CREATE TABLE IF NOT EXISTS cdc_silver.orders_current (order_id bigint, user_id bigint, "
            "created_at timestamp, total_amount decimal(12,2), status string) USING parquet"
        )
        self.spark.sql(
            "INSERT OVERWRITE cdc_silver.orders_current VALUES "
            "(1, 10, TIMESTAMP'2026-11-01 10:07:00', 10.50, 'paid'), "
            "(2, 10, TIMESTAMP'2026-11-01 10:08:00', 1.00, 'cancelled'), "
            "(3, 11, TIMESTAMP'2026-11-01 10:31:00', 2.00, 'paid')"
        )
        self.spark.sql(
            "CREATE TABLE IF NOT EXISTS cdc_silver.products_current (product_id bigint, name string, "
            "stock int, updated_at timestamp) USING parquet"
        )
        self.spark.sql(
            "INSERT OVERWRITE cdc_silver.products_current VALUES "
            "(1, 'a', 0, TIMESTAMP'2026-11-01 00:00:00'), (2, 'b', 4, TIMESTAMP'2026-11-01 00:00:00'), "
            "(3, 'c', 20, TIMESTAMP'2026-11-01 00:00:00'), (4, 'd', 21, TIMESTAMP'2026-11-01 00:00:00')"
        )
        self.spark.sql(
            "CREATE TABLE IF NOT EXISTS cdc_silver.users_history (user_id bigint, country string, "
            "is_current boolean) USING parquet"
        )
        self.spark.sql(
            "INSERT OVERWRITE cdc_silver.users_history VALUES (10, 'FR', false), (10, 'DE', true), (11, 'IT', true)"
        )

    def test_gold_sql_files_run_on_spark_with_mapped_namespaces(self):
        self.silver_tables()
        alerts = [
            (r["product_id"], r["alert_level"])
            for r in self.gold_query("gold_inventory_alerts.sql")
        ]
        self.assertEqual(alerts, [(1, "out_of_stock"), (2, "critical"), (3, "low")])

    def test_gold_user_activity_runs_on_spark(self):
        # `CAST(... AS VARCHAR(20))`: Spark needs the length, Trino and DataFusion accept it.
        self.silver_tables()
        rows = [
            (r["user_key"], r["country"], r["orders"], str(r["total_spent"]))
            for r in self.gold_query("gold_user_activity.sql")
        ]
        self.assertEqual(rows, [("10", "DE", 1, "10.50"), ("11", "IT", 1, "2.00")])

    def test_gold_revenue_5m_windows_match_on_spark(self):
        # FLOOR(minute / 5): `/` between integers is fractional in Spark, integer division in
        # DataFusion and Trino; with FLOOR the three engines put 10:07 in the 10:05 window.
        self.silver_tables()
        windows = [
            (r["window_start"].minute, r["orders"]) for r in self.gold_query("gold_revenue_5m.sql")
        ]
        self.assertEqual(windows, [(5, 1), (30, 1)])


if __name__ == "__main__":
    unittest.main()
