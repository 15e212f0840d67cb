//! Exact decimals, temporal types and column statistics.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{NaiveDate, TimeZone, Utc};
use flowctl_lakehouse::{Column, ColumnType, LakeTable, TableName, TableSchema};

use crate::common::{Lake, props, rows};

pub fn typed_columns() -> Vec<Column> {
    vec![
        Column::required("id", ColumnType::Long),
        Column::optional(
            "amount",
            ColumnType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        Column::optional("ts", ColumnType::Timestamp),
        Column::optional("tstz", ColumnType::Timestamptz),
        Column::optional("day", ColumnType::Date),
        Column::optional("flag", ColumnType::Boolean),
        Column::optional("ratio", ColumnType::Double),
        Column::optional("qty", ColumnType::Int),
        Column::optional("blob", ColumnType::Binary),
    ]
}

/// Rows 1..=4: amounts 30.50, -0.01, 99999999.99 and null; 2024-02-29 23:59:59.123456 etc.
pub fn typed_batch(first_id: i64) -> RecordBatch {
    let micros = |y, m, d, h, mi, s, us| {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_micro_opt(h, mi, s, us)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    };
    let ts = vec![
        Some(micros(2024, 2, 29, 23, 59, 59, 123_456)),
        Some(micros(1999, 12, 31, 0, 0, 0, 1)),
        Some(micros(2025, 1, 1, 12, 30, 0, 0)),
        None,
    ];
    let tstz = vec![
        Some(
            Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0)
                .unwrap()
                .timestamp_micros()
                + 42,
        ),
        Some(micros(1970, 1, 1, 0, 0, 0, 0)),
        Some(micros(2038, 1, 19, 3, 14, 8, 0)),
        None,
    ];
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let day = |y, m, d| Some((NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "tstz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("day", DataType::Date32, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ratio", DataType::Float64, true),
        Field::new("qty", DataType::Int32, true),
        Field::new("blob", DataType::Binary, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(first_id..first_id + 4)),
        Arc::new(
            Decimal128Array::from(vec![Some(3050), Some(-1), Some(9_999_999_999), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(TimestampMicrosecondArray::from(tstz).with_timezone("UTC")),
        Arc::new(Date32Array::from(vec![
            day(2024, 2, 29),
            day(1969, 12, 31),
            day(2000, 1, 1),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(0.5),
            Some(-1.25),
            None,
            Some(1e10),
        ])),
        Arc::new(Int32Array::from(vec![
            Some(1),
            None,
            Some(-3),
            Some(i32::MAX),
        ])),
        Arc::new(BinaryArray::from(vec![
            Some(&b"\x00\xff"[..]),
            None,
            Some(&b""[..]),
            Some(&b"ab"[..]),
        ])),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

pub async fn typed_table(fx: &Lake, name: &str) -> LakeTable {
    fx.lake
        .create_table_if_missing(
            &TableName::parse(name).unwrap(),
            &TableSchema::Columns(typed_columns()),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn decimals_and_temporal_values_round_trip_exactly() {
    let fx = Lake::new().await;
    let t = typed_table(&fx, "silver.typed").await;
    fx.lake
        .append(&t, vec![typed_batch(1)], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.typed").await;
    let got = rows(&t.scan().await.unwrap());
    let col = |c: &str| got.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
    assert_eq!(col("amount"), ["30.50", "-0.01", "99999999.99", ""]);
    assert_eq!(
        col("ts"),
        [
            "2024-02-29T23:59:59.123456",
            "1999-12-31T00:00:00.000001",
            "2025-01-01T12:30:00",
            ""
        ]
    );
    assert_eq!(
        col("tstz"),
        [
            "2024-03-01T08:00:00.000042Z",
            "1970-01-01T00:00:00Z",
            "2038-01-19T03:14:08Z",
            ""
        ]
    );
    assert_eq!(col("day"), ["2024-02-29", "1969-12-31", "2000-01-01", ""]);
    assert_eq!(col("flag"), ["true", "false", "", "true"]);
    assert_eq!(col("ratio"), ["0.5", "-1.25", "", "10000000000.0"]);
    assert_eq!(col("qty"), ["1", "", "-3", "2147483647"]);
    assert_eq!(col("blob"), ["00ff", "", "", "6162"]);
    // Types as the table declares them.
    let schema = t.arrow_schema().unwrap();
    assert_eq!(
        schema.field_with_name("amount").unwrap().data_type(),
        &DataType::Decimal128(10, 2)
    );
    assert!(matches!(
        schema.field_with_name("tstz").unwrap().data_type(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_))
    ));
    assert_eq!(
        schema.field_with_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
}

#[tokio::test]
async fn decimal_statistics_are_big_endian_unscaled_bytes() {
    let fx = Lake::new().await;
    let t = typed_table(&fx, "silver.stats").await;
    fx.lake
        .append(&t, vec![typed_batch(1)], props(&[]))
        .await
        .unwrap();
    let t = fx.load("silver.stats").await;
    let amount = t
        .iceberg()
        .metadata()
        .current_schema()
        .field_by_name("amount")
        .unwrap()
        .id;
    let files = t.data_files().await.unwrap();
    assert_eq!(files.len(), 1);
    let file = files[0].data_file();
    // Spec: decimals are the unscaled value as two's-complement big-endian bytes, minimal length.
    let lower = file.lower_bounds()[&amount].to_bytes().unwrap();
    let upper = file.upper_bounds()[&amount].to_bytes().unwrap();
    assert_eq!(
        lower.as_slice(),
        (-1i128).to_be_bytes()[15..].as_ref(),
        "-0.01 → ff"
    );
    assert_eq!(
        upper.as_slice(),
        9_999_999_999i128.to_be_bytes()[11..].as_ref(),
        "99999999.99 → 02 54 0b e3 ff"
    );
    assert_eq!(file.null_value_counts()[&amount], 1);
    assert_eq!(file.value_counts()[&amount], 4);
    let id = t
        .iceberg()
        .metadata()
        .current_schema()
        .field_by_name("id")
        .unwrap()
        .id;
    assert_eq!(
        file.lower_bounds()[&id].to_bytes().unwrap().as_slice(),
        1i64.to_le_bytes()
    );
    assert_eq!(
        file.upper_bounds()[&id].to_bytes().unwrap().as_slice(),
        4i64.to_le_bytes()
    );
    assert_eq!(file.null_value_counts()[&id], 0);
}

#[tokio::test]
async fn invalid_decimal_types_are_rejected() {
    let fx = Lake::new().await;
    for (precision, scale) in [(0, 0), (39, 2), (4, 5)] {
        let schema = TableSchema::Columns(vec![Column::optional(
            "x",
            ColumnType::Decimal { precision, scale },
        )]);
        let err = fx
            .lake
            .create_table_if_missing(&TableName::parse("s.bad").unwrap(), &schema)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("decimal"), "{err}");
    }
}
