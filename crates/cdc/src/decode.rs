//! Decoding Debezium's JSON values into typed column values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde_json::{Map, Value};

use crate::decimal::Decimal;
use crate::error::{CdcError, excerpt, value_kind};
use crate::schema::{Column, ColumnType, Encoding};
use crate::toast;

/// A decoded column value. Temporal values use Iceberg's physical units.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    /// SQL NULL.
    Null,
    /// Debezium's TOAST placeholder: the column did not change and its value was not sent.
    /// The silver merge keeps the stored value; never write this as data.
    Unavailable,
    /// Boolean.
    Boolean(bool),
    /// 32-bit integer.
    Int32(i32),
    /// 64-bit integer.
    Int64(i64),
    /// 32-bit float.
    Float32(f32),
    /// 64-bit float.
    Float64(f64),
    /// Text.
    String(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Exact decimal, at the column's scale.
    Decimal(Decimal),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01T00:00:00 (no time zone).
    Timestamp(i64),
    /// Microseconds since 1970-01-01T00:00:00Z.
    TimestampTz(i64),
    /// A list.
    List(Vec<TypedValue>),
}

/// Decodes `value` as `ty` with the default [`Encoding`] (what a declared column uses).
pub fn decode(ty: &ColumnType, value: &Value) -> Result<TypedValue, CdcError> {
    decode_with(ty, Encoding::Default, value)
}

impl Column {
    /// Decodes this column's value; errors name the column.
    pub fn decode(&self, value: &Value) -> Result<TypedValue, CdcError> {
        decode_with(&self.ty, self.encoding, value).map_err(|e| CdcError::Column {
            column: self.name.clone(),
            source: Box::new(e),
        })
    }
}

/// Decodes a row: one value per column, in column order. A column missing from the row
/// (added to the table after the event was written) is [`TypedValue::Null`].
pub fn decode_row(
    columns: &[Column],
    row: &Map<String, Value>,
) -> Result<Vec<TypedValue>, CdcError> {
    columns
        .iter()
        .map(|c| match row.get(&c.name) {
            None => Ok(TypedValue::Null),
            Some(v) => c.decode(v),
        })
        .collect()
}

/// Decodes `value` as `ty`, reading it as `encoding` says.
///
/// * `null` is [`TypedValue::Null`] for every type; the TOAST placeholder (in the form Debezium
///   uses for the type) is [`TypedValue::Unavailable`].
/// * Decimal: a base64 string of big-endian two's-complement unscaled bytes at the column's
///   scale (`precise` mode); decimal text (`string` mode); a JSON number (`double` mode, rounded
///   half away from zero to the scale); a `VariableScaleDecimal` object. Text and bytes must fit
///   the scale exactly, and every value must fit the precision: nothing is silently dropped.
/// * Timestamp/TimestampTz: an integer in the encoding's unit (microseconds by default) or an
///   ISO-8601 string. A string with an offset is converted to UTC; a string without one is
///   read as UTC for TimestampTz.
/// * Date: epoch days or `YYYY-MM-DD`. Time: an integer in the encoding's unit or `HH:MM:SS[.f]`.
/// * String: a JSON string as is; any other JSON value as its JSON text (JSON columns, structs).
pub fn decode_with(
    ty: &ColumnType,
    encoding: Encoding,
    value: &Value,
) -> Result<TypedValue, CdcError> {
    if value.is_null() {
        return Ok(TypedValue::Null);
    }
    if toast::is_unavailable_for(ty, value) {
        return Ok(TypedValue::Unavailable);
    }
    let fail = |reason: String| CdcError::Decode {
        ty: ty.to_string(),
        value: excerpt(value),
        reason,
    };
    let wrong = || fail(format!("unexpected {}", value_kind(value)));
    match ty {
        ColumnType::Boolean => value.as_bool().map(TypedValue::Boolean).ok_or_else(wrong),
        ColumnType::Int32 => {
            let n = value
                .as_i64()
                .ok_or_else(|| fail(format!("expected an integer, found {}", value_kind(value))))?;
            i32::try_from(n)
                .map(TypedValue::Int32)
                .map_err(|_| fail("out of the 32-bit range".to_owned()))
        }
        ColumnType::Int64 => value.as_i64().map(TypedValue::Int64).ok_or_else(|| {
            fail(format!(
                "expected a 64-bit integer, found {}",
                value_kind(value)
            ))
        }),
        // Narrowing to f32 is what a `float` column declares.
        ColumnType::Float32 => float(value)
            .map(|f| TypedValue::Float32(f as f32))
            .ok_or_else(wrong),
        ColumnType::Float64 => float(value).map(TypedValue::Float64).ok_or_else(wrong),
        ColumnType::String => Ok(TypedValue::String(match (value, encoding) {
            (Value::String(s), _) => s.clone(),
            (Value::Object(o), Encoding::VariableScaleDecimal) => {
                variable_scale_decimal(o).map_err(fail)?.to_string()
            }
            (other, _) => other.to_string(),
        })),
        ColumnType::Binary => match value {
            Value::String(s) => BASE64
                .decode(s)
                .map(TypedValue::Binary)
                .map_err(|e| fail(format!("invalid base64: {e}"))),
            _ => Err(wrong()),
        },
        ColumnType::Decimal { precision, scale } => {
            decode_decimal(*precision, *scale, encoding, value)
                .map(TypedValue::Decimal)
                .map_err(fail)
        }
        ColumnType::Date => match value {
            Value::Number(_) => {
                let days = value.as_i64().ok_or_else(wrong)?;
                i32::try_from(days)
                    .map(TypedValue::Date)
                    .map_err(|_| fail("out of the date range".to_owned()))
            }
            Value::String(s) => parse_date(s)
                .map(TypedValue::Date)
                .ok_or_else(|| fail("expected YYYY-MM-DD".to_owned())),
            _ => Err(wrong()),
        },
        ColumnType::Time => match value {
            Value::Number(_) => {
                let n = value.as_i64().ok_or_else(wrong)?;
                let micros =
                    to_micros(n, encoding).ok_or_else(|| fail("out of range".to_owned()))?;
                if !(0..=86_400_000_000).contains(&micros) {
                    return Err(fail("not a time of day".to_owned()));
                }
                Ok(TypedValue::Time(micros))
            }
            Value::String(s) => parse_time(s)
                .map(TypedValue::Time)
                .ok_or_else(|| fail("expected HH:MM:SS[.ffffff]".to_owned())),
            _ => Err(wrong()),
        },
        ColumnType::Timestamp | ColumnType::TimestampTz => {
            let micros = match value {
                Value::Number(_) => {
                    let n = value
                        .as_i64()
                        .ok_or_else(|| fail("expected an integer epoch value".to_owned()))?;
                    to_micros(n, encoding).ok_or_else(|| fail("out of range".to_owned()))?
                }
                Value::String(s) => parse_timestamp(s).ok_or_else(|| {
                    fail(
                        "expected an ISO-8601 timestamp such as 2024-05-01T12:30:00.123456Z"
                            .to_owned(),
                    )
                })?,
                _ => return Err(wrong()),
            };
            Ok(if *ty == ColumnType::Timestamp {
                TypedValue::Timestamp(micros)
            } else {
                TypedValue::TimestampTz(micros)
            })
        }
        ColumnType::List(item) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    decode_with(item, encoding, v).map_err(|e| fail(format!("element {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(TypedValue::List),
            _ => Err(wrong()),
        },
    }
}

/// A JSON number, or the strings Debezium uses for special floating-point values.
fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn decode_decimal(
    precision: u8,
    scale: u8,
    encoding: Encoding,
    value: &Value,
) -> Result<Decimal, String> {
    let exact = match (value, encoding) {
        (Value::String(s), Encoding::DecimalText) => text_decimal(s)?.rescale(scale),
        (Value::String(s), Encoding::Base64) => Decimal::from_be_bytes(&base64_bytes(s)?, scale),
        (Value::String(s), _) => match BASE64.decode(s) {
            Ok(bytes) => Decimal::from_be_bytes(&bytes, scale),
            Err(_) => text_decimal(s)
                .map_err(|_| "neither base64 bytes nor decimal text".to_owned())?
                .rescale(scale),
        },
        // `double` mode: the number's shortest text is what the source double meant.
        (Value::Number(n), _) => text_decimal(&n.to_string())?.rescale_rounded(scale),
        (Value::Object(o), _) => variable_scale_decimal(o)?.rescale(scale),
        (other, _) => return Err(format!("unexpected {}", value_kind(other))),
    }
    .map_err(|e| reason_of(&e))?;
    if !exact.fits(precision) {
        return Err(format!("{exact} has more than {precision} digits"));
    }
    Ok(exact)
}

fn base64_bytes(s: &str) -> Result<Vec<u8>, String> {
    BASE64.decode(s).map_err(|e| format!("invalid base64: {e}"))
}

fn text_decimal(s: &str) -> Result<Decimal, String> {
    s.parse::<Decimal>().map_err(|e| reason_of(&e))
}

/// `{"scale": 3, "value": "<base64>"}`.
fn variable_scale_decimal(o: &Map<String, Value>) -> Result<Decimal, String> {
    let scale = o
        .get("scale")
        .and_then(Value::as_u64)
        .and_then(|s| u8::try_from(s).ok())
        .ok_or("a VariableScaleDecimal needs an integer `scale`")?;
    let bytes = match o.get("value") {
        Some(Value::String(s)) => base64_bytes(s)?,
        _ => return Err("a VariableScaleDecimal needs a base64 `value`".to_owned()),
    };
    Decimal::from_be_bytes(&bytes, scale).map_err(|e| reason_of(&e))
}

/// The innermost reason of a decimal error, so messages do not repeat "cannot decode".
fn reason_of(e: &CdcError) -> String {
    match e {
        CdcError::Decode { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn to_micros(n: i64, encoding: Encoding) -> Option<i64> {
    match encoding {
        Encoding::Millis => n.checked_mul(1_000),
        Encoding::Nanos => Some(n.div_euclid(1_000)),
        _ => Some(n),
    }
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01 is a valid date");

fn parse_date(s: &str) -> Option<i32> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    i32::try_from(date.signed_duration_since(EPOCH).num_days()).ok()
}

fn parse_time(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let t = NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
    Some(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1_000))
}

fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|dt| dt.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(p: u8, s: u8) -> ColumnType {
        ColumnType::Decimal {
            precision: p,
            scale: s,
        }
    }

    fn decimal_text(v: TypedValue) -> String {
        match v {
            TypedValue::Decimal(d) => d.to_string(),
            other => panic!("not a decimal: {other:?}"),
        }
    }

    #[test]
    fn fixture_08_price_is_30_50() {
        // "C+o=" = 0x0BEA = 3050; at scale 2 that is 30.50.
        assert_eq!(
            decimal_text(decode(&dec(10, 2), &json!("C+o=")).unwrap()),
            "30.50"
        );
        // The negative: -3050 = 0xF416 = "9BY=".
        assert_eq!(
            decimal_text(decode(&dec(10, 2), &json!("9BY=")).unwrap()),
            "-30.50"
        );
    }

    #[test]
    fn decimals_from_text_and_numbers() {
        assert_eq!(
            decimal_text(decode_with(&dec(10, 2), Encoding::DecimalText, &json!("1234")).unwrap()),
            "1234.00"
        );
        assert_eq!(
            decimal_text(decode(&dec(10, 2), &json!("-7.5")).unwrap()),
            "-7.50"
        );
        assert_eq!(
            decimal_text(decode(&dec(10, 2), &json!(30.5)).unwrap()),
            "30.50"
        );
        assert_eq!(
            decimal_text(decode(&dec(10, 2), &json!(0.1 + 0.2)).unwrap()),
            "0.30"
        );
        assert_eq!(decimal_text(decode(&dec(10, 0), &json!(42)).unwrap()), "42");
        let vsd = json!({"scale": 3, "value": "MDk="}); // 12345 → 12.345
        assert_eq!(decimal_text(decode(&dec(10, 3), &vsd).unwrap()), "12.345");
        let as_text =
            decode_with(&ColumnType::String, Encoding::VariableScaleDecimal, &vsd).unwrap();
        assert_eq!(as_text, TypedValue::String("12.345".to_owned()));
    }

    #[test]
    fn decimals_never_lose_digits_silently() {
        let e = decode_with(&dec(10, 2), Encoding::DecimalText, &json!("1.005"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("more than 2 digits after the decimal point"),
            "{e}"
        );
        let e = decode(&dec(4, 2), &json!("123.45"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("has more than 4 digits"), "{e}");
        let e = decode_with(&dec(10, 2), Encoding::Base64, &json!("30.50"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid base64"), "{e}");
        let e = decode(&dec(10, 2), &json!("abc!")).unwrap_err().to_string();
        assert!(e.contains("neither base64 bytes nor decimal text"), "{e}");
        assert!(decode(&dec(10, 2), &json!(true)).is_err());
    }

    #[test]
    fn timestamps_in_every_unit() {
        let micros = 1_719_649_856_386_323_i64;
        let ts = ColumnType::Timestamp;
        assert_eq!(
            decode_with(&ts, Encoding::Micros, &json!(micros)).unwrap(),
            TypedValue::Timestamp(micros)
        );
        assert_eq!(
            decode_with(&ts, Encoding::Millis, &json!(1_719_649_856_386_i64)).unwrap(),
            TypedValue::Timestamp(1_719_649_856_386_000)
        );
        assert_eq!(
            decode_with(&ts, Encoding::Nanos, &json!(1_719_649_856_386_323_999_i64)).unwrap(),
            TypedValue::Timestamp(micros)
        );
        assert_eq!(
            decode_with(&ts, Encoding::Nanos, &json!(-1)).unwrap(),
            TypedValue::Timestamp(-1)
        );
        assert_eq!(
            decode(&ts, &json!(micros)).unwrap(),
            TypedValue::Timestamp(micros)
        );
        assert_eq!(
            decode(&ts, &json!("2024-06-29 08:30:56.386323")).unwrap(),
            TypedValue::Timestamp(micros)
        );
        assert!(decode_with(&ts, Encoding::Millis, &json!(i64::MAX)).is_err());
        let tz = ColumnType::TimestampTz;
        assert_eq!(
            decode(&tz, &json!("2024-06-29T08:30:56.386323Z")).unwrap(),
            TypedValue::TimestampTz(micros)
        );
        assert_eq!(
            decode(&tz, &json!("2024-06-29T10:30:56.386323+02:00")).unwrap(),
            TypedValue::TimestampTz(micros)
        );
        let e = decode(&tz, &json!("yesterday")).unwrap_err().to_string();
        assert!(e.contains("ISO-8601"), "{e}");
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            decode(&ColumnType::Date, &json!(16850)).unwrap(),
            TypedValue::Date(16850)
        );
        assert_eq!(
            decode(&ColumnType::Date, &json!("2016-02-20")).unwrap(),
            TypedValue::Date(16851)
        );
        assert_eq!(
            decode(&ColumnType::Date, &json!("1969-12-31")).unwrap(),
            TypedValue::Date(-1)
        );
        assert_eq!(
            decode_with(&ColumnType::Time, Encoding::Millis, &json!(3_600_000)).unwrap(),
            TypedValue::Time(3_600_000_000)
        );
        assert_eq!(
            decode(&ColumnType::Time, &json!("01:00:00.5")).unwrap(),
            TypedValue::Time(3_600_500_000)
        );
        assert!(decode(&ColumnType::Time, &json!(-5)).is_err());
    }

    #[test]
    fn scalars_strings_binary_lists() {
        assert_eq!(
            decode(&ColumnType::Int32, &json!(7)).unwrap(),
            TypedValue::Int32(7)
        );
        assert!(
            decode(&ColumnType::Int32, &json!(1_i64 << 40))
                .unwrap_err()
                .to_string()
                .contains("32-bit range")
        );
        assert!(decode(&ColumnType::Int64, &json!(1.5)).is_err());
        assert!(
            matches!(decode(&ColumnType::Float64, &json!("NaN")), Ok(TypedValue::Float64(f)) if f.is_nan())
        );
        assert_eq!(
            decode(&ColumnType::Float32, &json!(0.5)).unwrap(),
            TypedValue::Float32(0.5)
        );
        assert_eq!(
            decode(&ColumnType::String, &json!({"a": 1})).unwrap(),
            TypedValue::String(r#"{"a":1}"#.to_owned())
        );
        assert_eq!(
            decode(&ColumnType::Binary, &json!("AQI=")).unwrap(),
            TypedValue::Binary(vec![1, 2])
        );
        let list = ColumnType::List(Box::new(ColumnType::Int32));
        assert_eq!(
            decode(&list, &json!([1, null, 3])).unwrap(),
            TypedValue::List(vec![
                TypedValue::Int32(1),
                TypedValue::Null,
                TypedValue::Int32(3)
            ])
        );
        let e = decode(&list, &json!([1, "x"])).unwrap_err().to_string();
        assert!(e.contains("element 1"), "{e}");
        assert_eq!(
            decode(&ColumnType::Boolean, &Value::Null).unwrap(),
            TypedValue::Null
        );
    }

    #[test]
    fn row_decoding_names_the_column() {
        let cols = vec![
            Column::declared("id", ColumnType::Int64),
            Column::declared("price", dec(10, 2)),
            Column::declared("added_later", ColumnType::String),
        ];
        let row = json!({"id": 2, "price": "C+o="});
        let values = decode_row(&cols, row.as_object().unwrap()).unwrap();
        assert_eq!(values[0], TypedValue::Int64(2));
        assert_eq!(decimal_text(values[1].clone()), "30.50");
        assert_eq!(values[2], TypedValue::Null);
        let bad = json!({"id": "two"});
        let e = decode_row(&cols, bad.as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("column `id`: cannot decode \"two\" as long"),
            "{e}"
        );
    }
}
