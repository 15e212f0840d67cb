#!/usr/bin/env python3
"""Generates the CDC demo's Debezium change events (demo/events/*.jsonl).

An e-commerce Postgres source (users, products, orders, order_items) as the Debezium Postgres
connector would publish it: snapshot reads, creates, updates with and without `before`
(REPLICA IDENTITY FULL vs DEFAULT), deletes with a full, PK-only or null `before`, a
primary-key change (delete + create), NUMERIC columns as base64 big-endian unscaled bytes with
the scale in the JSON converter's schema, ZonedTimestamp text, a TOAST placeholder, tombstones,
and a few malformed messages that must land in the dead-letter table.

Each line: {"key": <json or null>, "value": <json, null = tombstone, or a string sent verbatim>}.
Deterministic (fixed seed): re-running writes the same files. Run: python3 demo/gen_events.py
"""

import base64
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

OUT = Path(__file__).parent / "events"
START = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
rng = random.Random(20261120)


class Clock:
    """Source time and WAL position, both strictly increasing."""

    def __init__(self):
        self.t = START
        self.lsn = 24_000_000
        self.tx = 700

    def tick(self, max_seconds=20):
        self.t += timedelta(seconds=rng.randint(1, max_seconds), milliseconds=rng.randint(0, 999))
        self.lsn += rng.randint(40, 400)
        self.tx += 1
        return self


clock = Clock()


def ms(t):
    return int(t.timestamp() * 1000)


def zoned(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dec(cents):
    """Debezium `precise` decimal: base64 of the big-endian two's-complement unscaled value."""
    n = max(1, (cents.bit_length() + 8) // 8)
    return base64.b64encode(cents.to_bytes(n, "big", signed=True)).decode()


def col(type_, field, optional=True, name=None, params=None):
    c = {"type": type_, "optional": optional, "field": field}
    if name:
        c["name"] = name
        c["version"] = 1
    if params:
        c["parameters"] = params
    return c


def decimal_col(field, precision, scale=2):
    return col("bytes", field, False, "org.apache.kafka.connect.data.Decimal",
               {"scale": str(scale), "connect.decimal.precision": str(precision)})


SOURCE_SCHEMA = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
    "field": "source",
    "fields": [col("string", "version", False), col("string", "connector", False),
               col("string", "name", False), col("int64", "ts_ms", False),
               col("string", "snapshot"), col("string", "db", False), col("string", "schema", False),
               col("string", "table", False), col("int64", "txId"), col("int64", "lsn")],
}

TABLE_COLUMNS = {
    "products": [col("int64", "product_id", False), col("string", "name", False),
                 decimal_col("price", 10), col("int32", "stock", False),
                 col("string", "updated_at", False, "io.debezium.time.ZonedTimestamp")],
    "orders": [col("int64", "order_id", False), col("int64", "user_id", False),
               col("string", "status", False), decimal_col("total_amount", 12),
               col("string", "created_at", False, "io.debezium.time.ZonedTimestamp")],
    "order_items": [col("int64", "order_id", False), col("int32", "item_no", False),
                    col("int64", "product_id", False), col("int32", "quantity", False),
                    decimal_col("unit_price", 10)],
}


def envelope_schema(table):
    value = {"type": "struct", "optional": True, "name": f"shop.public.{table}.Value",
             "fields": TABLE_COLUMNS[table]}
    return {
        "type": "struct", "optional": False, "name": f"shop.public.{table}.Envelope", "version": 1,
        "fields": [dict(value, field="before"), dict(value, field="after"), SOURCE_SCHEMA,
                   col("string", "op", False), col("int64", "ts_ms")],
    }


def event(table, op, before, after, snapshot="false"):
    clock.tick(3 if snapshot != "false" else 20)
    payload = {
        "before": before, "after": after,
        "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": "shop",
                   "ts_ms": ms(clock.t), "snapshot": snapshot, "db": "shop", "schema": "public",
                   "table": table, "txId": clock.tx, "lsn": clock.lsn},
        "op": op, "ts_ms": ms(clock.t) + rng.randint(5, 400),
    }
    if table == "users":  # users come schemaless: the DAG declares their column types
        return payload
    return {"schema": envelope_schema(table), "payload": payload}


streams = {t: [] for t in ("users", "products", "orders", "order_items")}


def emit(table, key, value):
    streams[table].append({"key": key, "value": value})


COUNTRIES = ["FR", "DE", "ES", "IT", "NL", "PL", "SE", "PT"]
FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra"]

users, products, orders = {}, {}, {}


def new_user(uid, snapshot="false"):
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    row = {"user_id": uid, "email": f"{name.split()[0].lower()}.{uid}@example.com",
           "full_name": name, "country": rng.choice(COUNTRIES), "created_at": zoned(clock.t)}
    users[uid] = row
    emit("users", {"user_id": uid}, event("users", "r" if snapshot != "false" else "c", None, row, snapshot))


def new_product(pid, snapshot):
    row = {"product_id": pid, "name": f"Product {pid:03d}", "price": dec(rng.randint(299, 24999)),
           "stock": rng.randint(8, 60), "updated_at": zoned(clock.t)}
    products[pid] = row
    emit("products", {"product_id": pid}, event("products", "r", None, row, snapshot))


# 1. Initial snapshot: 20 users, 15 products (op r).
for uid in range(1, 21):
    new_user(uid, snapshot="first" if uid == 1 else "true")
for pid in range(1, 16):
    new_product(pid, snapshot="last" if pid == 15 else "true")

# 2. Two hours of activity.
next_order = 1001
for step in range(260):
    r = rng.random()
    if r < 0.08:
        new_user(len(users) + 1)
    elif r < 0.62:
        oid, uid = next_order, rng.choice(list(users))
        next_order += 1
        items, total = [], 0
        for item_no in range(1, rng.randint(1, 4) + 1):
            pid = rng.choice(list(products))
            qty = rng.randint(1, 3)
            price_bytes = products[pid]["price"]
            cents = int.from_bytes(base64.b64decode(price_bytes), "big", signed=True)
            total += cents * qty
            items.append({"order_id": oid, "item_no": item_no, "product_id": pid, "quantity": qty,
                          "unit_price": price_bytes})
        order = {"order_id": oid, "user_id": uid, "status": "pending", "total_amount": dec(total),
                 "created_at": zoned(clock.t)}
        orders[oid] = order
        emit("orders", {"order_id": oid}, event("orders", "c", None, order))
        for item in items:
            emit("order_items", {"order_id": oid, "item_no": item["item_no"]},
                 event("order_items", "c", None, item))
            # Stock goes down: products have REPLICA IDENTITY DEFAULT, so no `before`.
            p = dict(products[item["product_id"]])
            p["stock"] = max(0, p["stock"] - item["quantity"] * rng.randint(1, 4))
            p["updated_at"] = zoned(clock.t)
            products[item["product_id"]] = p
            emit("products", {"product_id": p["product_id"]}, event("products", "u", None, p))
    elif r < 0.86 and orders:
        # Order status moves on: orders have REPLICA IDENTITY FULL, so `before` is the old row.
        oid = rng.choice(list(orders))
        before = orders[oid]
        nxt = {"pending": "paid", "paid": "shipped", "shipped": "delivered"}.get(before["status"])
        if nxt:
            after = dict(before, status=nxt)
            orders[oid] = after
            emit("orders", {"order_id": oid}, event("orders", "u", before, after))
    elif r < 0.95:
        # A user changes e-mail or country (SCD2 history in silver).
        uid = rng.choice(list(users))
        before = users[uid]
        after = dict(before, country=rng.choice(COUNTRIES)) if rng.random() < 0.5 else \
            dict(before, email=f"{before['full_name'].split()[0].lower()}.{uid}.new@example.com")
        users[uid] = after
        emit("users", {"user_id": uid}, event("users", "u", before, after))
    else:
        # Restock (decimal price change too).
        pid = rng.choice(list(products))
        p = dict(products[pid], stock=products[pid]["stock"] + 25, updated_at=zoned(clock.t))
        products[pid] = p
        emit("products", {"product_id": pid}, event("products", "u", None, p))

# 3. Edge cases silver must get right.
# A TOAST-ed column: Debezium sends the placeholder when an unchanged large value was not logged.
uid = 3
before = users[uid]
after = dict(before, country="IE", full_name="__debezium_unavailable_value")
users[uid] = dict(before, country="IE")
emit("users", {"user_id": uid}, event("users", "u", None, after))
# A cancelled order deleted: DEFAULT identity, so `before` holds only the primary key.
for oid in [o for o, row in orders.items() if row["status"] == "pending"][:3]:
    pk_only = {k: (oid if k == "order_id" else None) for k in orders[oid]}
    emit("orders", {"order_id": oid}, event("orders", "d", pk_only, None))
    emit("orders", {"order_id": oid}, None)  # the tombstone that follows a delete
    del orders[oid]
# A user deleted with no `before` at all: the key comes from the Kafka key.
uid = 20
emit("users", {"user_id": uid}, event("users", "d", None, None))
emit("users", {"user_id": uid}, None)
del users[uid]
# A primary-key change on order_items: item_no 1 renumbered to 9 (delete old + create new).
first_order = min(orders)
old_item = {"order_id": first_order, "item_no": 1}
moved = None
for line in streams["order_items"]:
    v = line["value"]
    if v and v["payload"]["after"] and v["payload"]["after"]["order_id"] == first_order \
            and v["payload"]["after"]["item_no"] == 1:
        moved = dict(v["payload"]["after"], item_no=9)
if moved:
    emit("order_items", old_item, event("order_items", "d", dict(moved, item_no=1), None))
    emit("order_items", {"order_id": first_order, "item_no": 9}, event("order_items", "c", None, moved))
# Malformed messages: must go to the dead-letter table, never stop the pipeline.
emit("orders", {"order_id": 999999}, '{"payload": {"op": "c", "after": {"order_id": 999999')
emit("orders", {"order_id": 999998}, '{"hello": "not a debezium event"}')

OUT.mkdir(parents=True, exist_ok=True)
for table, lines in streams.items():
    path = OUT / f"{table}.jsonl"
    with path.open("w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    print(f"{path}: {len(lines)} messages")
print(f"live rows at the end: {len(users)} users, {len(products)} products, {len(orders)} orders")
