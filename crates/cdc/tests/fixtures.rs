//! Parser tests over the project's own Debezium fixtures (tests/fixtures/, see its README).

use std::path::PathBuf;

use flowctl_cdc::{
    CdcError, ChangeEvent, ColumnType, Decimal, Encoding, Format, Message, Op, OrderingKey,
    Snapshot, TransactionStatus, TypedValue, decode, decode_row, is_unavailable, parse_key,
    parse_value,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn change(bytes: &[u8]) -> ChangeEvent<'_> {
    match parse_value(bytes) {
        Ok(Message::Change(e)) => e,
        other => panic!("expected a change event, got {other:?}"),
    }
}

fn error(name: &str) -> String {
    match parse_value(&fixture(name)) {
        Err(e) => e.to_string(),
        Ok(m) => panic!("{name}: expected an error, got {m:?}"),
    }
}

fn decimal(v: &TypedValue) -> String {
    match v {
        TypedValue::Decimal(d) => d.to_string(),
        other => panic!("not a decimal: {other:?}"),
    }
}

#[test]
fn snapshot_read_with_schema_types_every_column() {
    let bytes = fixture("users_01_snapshot_read_with_schema.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Read);
    assert_eq!(e.format, Format::Envelope);
    assert!(e.before.is_none());
    assert_eq!(e.source.snapshot, Some(Snapshot::First));
    assert!(
        e.source
            .snapshot
            .as_ref()
            .is_some_and(Snapshot::is_snapshot)
    );
    assert_eq!(e.source.table.as_deref(), Some("users"));
    assert_eq!(e.source.lsn, Some(24_023_128));
    assert_eq!(e.source.sequence_lsns(), Some((None, Some(24_023_128))));
    assert!(
        e.schema_json()
            .is_some_and(|s| s.contains("io.debezium.time.ZonedTimestamp"))
    );

    let columns = e.row_columns().unwrap().expect("schema present");
    let types: Vec<(&str, &ColumnType)> =
        columns.iter().map(|c| (c.name.as_str(), &c.ty)).collect();
    assert_eq!(
        types,
        vec![
            ("id", &ColumnType::Int64),
            ("email", &ColumnType::String),
            ("full_name", &ColumnType::String),
            ("external_id", &ColumnType::String),
            ("birth_date", &ColumnType::Date),
            ("created_at", &ColumnType::TimestampTz),
            ("preferences", &ColumnType::String),
            ("tags", &ColumnType::List(Box::new(ColumnType::String))),
            ("bio", &ColumnType::String),
        ]
    );
    assert!(!columns[0].nullable && columns[2].nullable);

    let after = e.after_map().unwrap().unwrap();
    let row = decode_row(&columns, &after).unwrap();
    assert_eq!(row[0], TypedValue::Int64(1));
    assert_eq!(
        row[3],
        TypedValue::String("3f1c6a8e-2b7d-4e59-9a41-0c8d5e6f7a12".into())
    );
    assert_eq!(row[4], TypedValue::Date(11_017)); // 2000-03-01
    assert_eq!(row[5], TypedValue::TimestampTz(1_767_604_530_123_456)); // 2026-01-05T09:15:30.123456Z
    assert_eq!(
        row[6],
        TypedValue::String(r#"{"newsletter":true,"lang":"fr"}"#.into())
    );
    assert_eq!(
        row[7],
        TypedValue::List(vec![
            TypedValue::String("vip".into()),
            TypedValue::String("early-adopter".into())
        ])
    );
}

#[test]
fn create_without_schema_keeps_raw_after_and_versions_fields() {
    let bytes = fixture("users_02_create_schemaless.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Create);
    assert!(e.schema.is_none());
    assert!(e.row_columns().unwrap().is_none());
    // `after` is the exact text of the message, ready for bronze.
    let after = e.after_json().unwrap();
    assert!(
        after.starts_with(r#"{"id":2,"email":"bob@example.org""#),
        "{after}"
    );
    assert_eq!(e.ts_ms, Some(1_767_607_200_250));
    assert_eq!(e.ts_us, Some(1_767_607_200_250_456));
    assert_eq!(e.ts_ns, Some(1_767_607_200_250_456_789));
    assert_eq!(e.source.ts_us, Some(1_767_607_200_000_123));
    assert_eq!(e.source.tx_id, Some(751));
    assert_eq!(e.source.snapshot, Some(Snapshot::False));
    assert!(e.transaction.is_none());
    // Declared types stand in for the schema; the pre-1970 birth date is negative.
    assert_eq!(
        decode(
            &"date".parse().unwrap(),
            &e.after_map().unwrap().unwrap()["birth_date"]
        )
        .unwrap(),
        TypedValue::Date(-365)
    );
}

#[test]
fn update_with_full_before_has_both_rows() {
    let bytes = fixture("users_03_update_full_before.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Update);
    let before = e.before_map().unwrap().unwrap();
    let after = e.after_map().unwrap().unwrap();
    assert_eq!(before["email"], json!("bob@example.org"));
    assert_eq!(after["email"], json!("bob.okafor@example.org"));
    // A pretty-printed message is kept verbatim too.
    assert!(e.before_json().unwrap().contains('\n'));
    assert_eq!(e.row().map(|r| r.get()), e.after_json());
}

#[test]
fn update_without_before_carries_toast_placeholders() {
    let bytes = fixture("users_04_update_no_before_toast.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Update);
    assert!(e.before.is_none());
    let after = e.after_map().unwrap().unwrap();
    assert!(is_unavailable(&after["bio"]));
    assert!(is_unavailable(&after["tags"]));
    assert!(!is_unavailable(&after["full_name"]));
    assert_eq!(
        decode(&ColumnType::String, &after["bio"]).unwrap(),
        TypedValue::Unavailable
    );
    assert_eq!(
        decode(&"text[]".parse().unwrap(), &after["tags"]).unwrap(),
        TypedValue::Unavailable
    );
}

#[test]
fn delete_with_full_before_and_its_key() {
    let bytes = fixture("users_05_delete_full_before.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Delete);
    assert!(e.after.is_none());
    assert_eq!(e.before_map().unwrap().unwrap()["id"], json!(2));
    assert_eq!(e.row().map(|r| r.get()), e.before_json());
    let key = parse_key(&fixture("users_05_delete_full_before.key.json"))
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(key), json!({"id": 2}));
}

#[test]
fn decimals_as_base64_bytes_decode_exactly() {
    let bytes = fixture("products_06_create_decimal_with_schema.json");
    let e = change(&bytes);
    let columns = e.row_columns().unwrap().unwrap();
    let price = columns.iter().find(|c| c.name == "price").unwrap();
    assert_eq!(
        price.ty,
        ColumnType::Decimal {
            precision: 10,
            scale: 2
        }
    );
    assert_eq!(price.encoding, Encoding::Base64);
    let updated = columns.iter().find(|c| c.name == "updated_at").unwrap();
    assert_eq!(
        (&updated.ty, updated.encoding),
        (&ColumnType::Timestamp, Encoding::Micros)
    );
    let row = decode_row(&columns, &e.after_map().unwrap().unwrap()).unwrap();
    assert_eq!(decimal(&row[3]), "1999.99");
    assert_eq!(row[4], TypedValue::Null);
    assert_eq!(row[6], TypedValue::Float64(0.25));
    assert_eq!(row[7], TypedValue::Timestamp(1_767_604_800_123_456)); // 2026-01-05T09:20:00.123456

    let bytes = fixture("products_07_update_negative_decimal_with_schema.json");
    let e = change(&bytes);
    let columns = e.row_columns().unwrap().unwrap();
    let row = decode_row(&columns, &e.after_map().unwrap().unwrap()).unwrap();
    assert_eq!(decimal(&row[3]), "0.05");
    assert_eq!(decimal(&row[4]), "-12.50");
    let TypedValue::Decimal(d) = &row[4] else {
        unreachable!()
    };
    assert_eq!(*d, Decimal::new(-1250, 2).unwrap());
}

#[test]
fn delete_with_pk_only_before() {
    let bytes = fixture("products_08_delete_pk_only_before.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Delete);
    let before = e.before_map().unwrap().unwrap();
    assert_eq!(before["id"], json!(10));
    assert!(
        before
            .iter()
            .filter(|(k, _)| *k != "id")
            .all(|(_, v)| v.is_null())
    );
}

#[test]
fn delete_with_null_before_takes_the_key_from_kafka() {
    let bytes = fixture("orders_09_delete_null_before.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Delete);
    assert!(e.before.is_none() && e.after.is_none() && e.row().is_none());
    let key = parse_key(&fixture("orders_09_delete_null_before.key.json"))
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(key), json!({"id": 5001}));
}

#[test]
fn tombstone_value_and_its_key() {
    assert!(matches!(
        parse_value(&fixture("orders_10_tombstone.value.json")),
        Ok(Message::Tombstone)
    ));
    assert!(matches!(parse_value(b""), Ok(Message::Tombstone)));
    assert!(matches!(parse_value(b"null"), Ok(Message::Tombstone)));
    assert!(matches!(
        parse_value(br#"{"schema":null,"payload":null}"#),
        Ok(Message::Tombstone)
    ));
    let key = parse_key(&fixture("orders_10_tombstone.key.json"))
        .unwrap()
        .unwrap();
    assert_eq!(key["id"], json!(5001));
    assert_eq!(parse_key(b"").unwrap(), None);
    assert_eq!(parse_key(b"null").unwrap(), None);
}

#[test]
fn transaction_block_and_pk_change() {
    let bytes = fixture("orders_11_create_with_transaction.json");
    let order = change(&bytes);
    let tx = order.transaction.as_ref().unwrap();
    assert_eq!(
        (tx.id.as_ref(), tx.total_order, tx.data_collection_order),
        ("920:24050000", Some(1), Some(1))
    );
    let created = decode(
        &ColumnType::TimestampTz,
        &order.after_map().unwrap().unwrap()["created_at"],
    )
    .unwrap();
    assert_eq!(created, TypedValue::TimestampTz(1_767_682_800_500_000)); // 08:00:00.5+01:00

    // A primary-key change is a delete of the old key then a create of the new one.
    let del_bytes = fixture("order_items_12_pk_change_delete.json");
    let add_bytes = fixture("order_items_13_pk_change_create.json");
    let (del, add) = (change(&del_bytes), change(&add_bytes));
    assert_eq!((del.op, add.op), (Op::Delete, Op::Create));
    assert_eq!(del.before_map().unwrap().unwrap()["line_no"], json!(1));
    assert_eq!(add.after_map().unwrap().unwrap()["line_no"], json!(2));
    assert_eq!(
        parse_key(&fixture("order_items_12_pk_change_delete.key.json"))
            .unwrap()
            .unwrap()["line_no"],
        json!(1)
    );
    assert_eq!(
        parse_key(&fixture("order_items_13_pk_change_create.key.json"))
            .unwrap()
            .unwrap()["line_no"],
        json!(2)
    );
    // Same transaction, the create comes later in the merge order even at a lower Kafka offset.
    assert_eq!(del.source.tx_id, add.source.tx_id);
    assert!(add.ordering_key(0, 3) > del.ordering_key(0, 7));
    assert_eq!(
        add.ordering_key(1, 3),
        OrderingKey::new(Some(24_050_300), Some(1_767_682_800_000), 3, 1)
    );
}

#[test]
fn transaction_markers() {
    let bytes = fixture("tx_14_begin.json");
    let Ok(Message::Transaction(begin)) = parse_value(&bytes) else {
        panic!("BEGIN")
    };
    assert_eq!(begin.status, TransactionStatus::Begin);
    assert_eq!(begin.id, "920:24050000");
    assert_eq!(begin.event_count, None);
    assert!(begin.data_collections.is_empty());
    let bytes = fixture("tx_15_end_with_schema.json");
    let Ok(Message::Transaction(end)) = parse_value(&bytes) else {
        panic!("END")
    };
    assert_eq!(end.status, TransactionStatus::End);
    assert_eq!(end.event_count, Some(3));
    let counts: Vec<(&str, i64)> = end
        .data_collections
        .iter()
        .map(|d| (d.data_collection.as_ref(), d.event_count))
        .collect();
    assert_eq!(
        counts,
        vec![("public.orders", 1), ("public.order_items", 2)]
    );
}

#[test]
fn truncate_has_no_rows() {
    let bytes = fixture("orders_16_truncate.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Truncate);
    assert!(e.row().is_none());
    assert_eq!(e.source.table.as_deref(), Some("orders"));
}

#[test]
fn flattened_record_with_schema() {
    let bytes = fixture("unwrapped_17_users_deleted_false_with_schema.json");
    let e = change(&bytes);
    assert_eq!(e.format, Format::Flattened);
    assert_eq!(e.op, Op::Update);
    assert_eq!(e.source.table.as_deref(), Some("users"));
    assert_eq!(e.source.lsn, Some(24_023_800));
    assert_eq!(e.source.ts_ms, Some(1_767_614_400_000));
    assert!(e.before.is_none());
    let after = e.after_map().unwrap().unwrap();
    assert_eq!(
        after.len(),
        9,
        "metadata members are not row columns: {after:?}"
    );
    assert!(after.keys().all(|k| !k.starts_with("__")));
    assert_eq!(
        after["preferences"],
        json!(r#"{"newsletter":true,"lang":"fr"}"#)
    );
    let columns = e.row_columns().unwrap().unwrap();
    assert_eq!(columns.len(), 9);
    assert_eq!(
        columns.iter().find(|c| c.name == "created_at").unwrap().ty,
        ColumnType::TimestampTz
    );
}

#[test]
fn flattened_delete_rewrite_puts_the_row_in_before() {
    let bytes = fixture("unwrapped_18_orders_deleted_true.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Delete);
    assert!(e.after.is_none());
    assert_eq!(e.before_map().unwrap().unwrap()["id"], json!(5001));
    assert_eq!(e.ordering_key(2, 9).lsn, Some(24_040_000));
}

#[test]
fn flattened_arrays_of_decimals() {
    let bytes = fixture("unwrapped_19_products_array_with_schema.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Read);
    assert_eq!(e.source.db.as_deref(), Some("shop"));
    let columns = e.row_columns().unwrap().unwrap();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "monthly_sales", "price_history"]);
    let row = decode_row(&columns, &e.after_map().unwrap().unwrap()).unwrap();
    assert_eq!(
        row[1],
        TypedValue::List([14, 9, 0, 31].map(TypedValue::Int32).to_vec())
    );
    let TypedValue::List(prices) = &row[2] else {
        panic!("{:?}", row[2])
    };
    assert_eq!(
        prices.iter().map(decimal).collect::<Vec<_>>(),
        ["1999.99", "1899.00"]
    );
}

#[test]
fn flattened_with_only_the_deleted_flag_is_an_upsert() {
    let bytes = fixture("unwrapped_20_rewrite_only_deleted_flag.json");
    let e = change(&bytes);
    assert_eq!(e.op, Op::Update);
    assert_eq!(
        e.after_json(),
        Some(r#"{"id":3,"email":"carol@example.net"}"#)
    );
    assert_eq!(e.source, Default::default());
}

#[test]
fn owned_events_outlive_their_bytes() {
    let owned = {
        let bytes = fixture("products_06_create_decimal_with_schema.json");
        parse_value(&bytes).unwrap().into_owned()
    };
    let Message::Change(e) = owned else {
        panic!("change")
    };
    assert_eq!(e.source.table.as_deref(), Some("products"));
    assert!(e.row_columns().unwrap().is_some());
}

#[test]
fn malformed_messages_are_errors_with_reasons() {
    let cases = [
        (
            "malformed/invalid_json_truncated.json",
            "invalid JSON: EOF while parsing",
        ),
        (
            "malformed/two_documents.json",
            "invalid JSON: trailing characters at line 2",
        ),
        (
            "malformed/not_utf8.bin",
            "invalid JSON: invalid unicode code point",
        ),
        (
            "malformed/not_an_event_heartbeat.json",
            "not a Debezium event: no `op`",
        ),
        (
            "malformed/not_an_event_array.json",
            "not a Debezium event: expected a JSON object, found an array",
        ),
        (
            "malformed/unknown_op.json",
            "unknown op `x` (expected one of c, u, d, r, t)",
        ),
        (
            "malformed/create_without_after.json",
            "invalid `after`: op `c` needs the new row in `after`",
        ),
        (
            "malformed/lsn_not_integer.json",
            "invalid `source`: invalid type: string \"0/16B3748\", expected i64",
        ),
        (
            "malformed/after_not_object.json",
            "invalid `after`: expected a JSON object or null, found a string",
        ),
        (
            "malformed/deleted_flag_not_boolean.json",
            "invalid `__deleted`: expected \"true\" or \"false\"",
        ),
        (
            "malformed/transaction_status_unknown.json",
            "`status` is `ROLLBACK`, not a transaction marker's BEGIN or END",
        ),
    ];
    for (name, expected) in cases {
        let message = error(name);
        assert!(
            message.contains(expected),
            "{name}: {message:?} does not contain {expected:?}"
        );
    }
    // The heartbeat's reason lists what it found.
    assert!(error("malformed/not_an_event_heartbeat.json").ends_with("members: ts_ms"));
}

#[test]
fn other_malformed_inputs() {
    let err = |b: &[u8]| parse_value(b).unwrap_err();
    assert!(matches!(err(b"42"), CdcError::NotAnEvent(m) if m.contains("found a number")));
    assert!(matches!(err(br#""text""#), CdcError::NotAnEvent(m) if m.contains("found a string")));
    assert!(
        matches!(err(br#"{"op":5,"after":{}}"#), CdcError::InvalidField { field, .. } if field == "op")
    );
    assert!(
        matches!(err(br#"{"op":"c"}"#), CdcError::NotAnEvent(m) if m.contains("none of `before`, `after`, `source`"))
    );
    assert!(
        matches!(err(br#"{"op":"c","after":{"id":1},"ts_ms":"soon"}"#), CdcError::InvalidField { field, .. } if field == "ts_ms")
    );
    assert!(
        matches!(err(br#"{"status":"END"}"#), CdcError::InvalidField { field, .. } if field == "id")
    );
    // A row column named `payload` does not make a record a schema wrapper.
    let e = change(br#"{"payload":7,"__op":"c"}"#);
    assert_eq!(e.after_json(), Some(r#"{"payload":7}"#));
    // Keys: not an object.
    assert!(
        parse_key(br#""5001""#)
            .unwrap_err()
            .to_string()
            .contains("found a string")
    );
    assert!(
        parse_key(b"{")
            .unwrap_err()
            .to_string()
            .starts_with("invalid JSON")
    );
}

#[test]
fn escaped_strings_are_unescaped() {
    let bytes = br#"{"op":"c","after":{"n":"a\"b"},"source":{"table":"odd\u0020name","sequence":"[\"1\",\"2\"]"}}"#;
    let e = change(bytes);
    assert_eq!(e.source.table.as_deref(), Some("odd name"));
    assert_eq!(e.source.sequence_lsns(), Some((Some(1), Some(2))));
    assert_eq!(e.after_json(), Some(r#"{"n":"a\"b"}"#));
    // Escaped member names of a flattened record are written back escaped.
    let e = change(br#"{"we\"ird":1,"__op":"c"}"#);
    assert_eq!(e.after_map().unwrap().unwrap()["we\"ird"], json!(1));
}
