//! Column values in silver: storage types, decoding event values into them, comparing and keys.

use std::cmp::Ordering;

use flowctl_cdc::{self as cdc, Encoding, TypedValue};
use flowctl_lakehouse::ColumnType;
use flowctl_lakehouse::arrow_schema::{DataType, TimeUnit};
use serde_json::Value;

/// The silver (Iceberg) type that stores a source column type. Iceberg has no list-of-anything
/// or time type in flowctl's table layer: lists are kept as their JSON text, times of day as
/// microseconds since midnight.
pub(crate) fn storage_type(ty: &cdc::ColumnType) -> ColumnType {
    match ty {
        cdc::ColumnType::Boolean => ColumnType::Boolean,
        cdc::ColumnType::Int32 => ColumnType::Int,
        cdc::ColumnType::Int64 | cdc::ColumnType::Time => ColumnType::Long,
        cdc::ColumnType::Float32 | cdc::ColumnType::Float64 => ColumnType::Double,
        cdc::ColumnType::String | cdc::ColumnType::List(_) => ColumnType::String,
        cdc::ColumnType::Binary => ColumnType::Binary,
        cdc::ColumnType::Decimal { precision, scale } => ColumnType::Decimal {
            precision: u32::from(*precision),
            scale: u32::from(*scale),
        },
        cdc::ColumnType::Date => ColumnType::Date,
        cdc::ColumnType::Timestamp => ColumnType::Timestamp,
        cdc::ColumnType::TimestampTz => ColumnType::Timestamptz,
    }
}

/// The source type that decodes into a storage type with default encodings (for columns of
/// schemaless events that were not declared).
pub(crate) fn source_type(ty: ColumnType) -> cdc::ColumnType {
    match ty {
        ColumnType::String => cdc::ColumnType::String,
        ColumnType::Long => cdc::ColumnType::Int64,
        ColumnType::Int => cdc::ColumnType::Int32,
        ColumnType::Boolean => cdc::ColumnType::Boolean,
        ColumnType::Double => cdc::ColumnType::Float64,
        // Precision and scale of a stored decimal are at most 38.
        ColumnType::Decimal { precision, scale } => cdc::ColumnType::Decimal {
            precision: u8::try_from(precision).unwrap_or(cdc::MAX_PRECISION),
            scale: u8::try_from(scale).unwrap_or(0),
        },
        ColumnType::Date => cdc::ColumnType::Date,
        ColumnType::Timestamp => cdc::ColumnType::Timestamp,
        ColumnType::Timestamptz => cdc::ColumnType::TimestampTz,
        ColumnType::Binary => cdc::ColumnType::Binary,
    }
}

/// The storage type of an Arrow field of an existing silver table.
pub(crate) fn storage_of_arrow(dt: &DataType) -> Option<ColumnType> {
    Some(match dt {
        DataType::Boolean => ColumnType::Boolean,
        DataType::Int32 => ColumnType::Int,
        DataType::Int64 => ColumnType::Long,
        DataType::Float64 => ColumnType::Double,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::String,
        DataType::Binary | DataType::LargeBinary => ColumnType::Binary,
        DataType::Decimal128(p, s) => ColumnType::Decimal {
            precision: u32::from(*p),
            scale: u32::try_from(*s).ok()?,
        },
        DataType::Date32 => ColumnType::Date,
        DataType::Timestamp(TimeUnit::Microsecond, None) => ColumnType::Timestamp,
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => ColumnType::Timestamptz,
        _ => return None,
    })
}

/// A type for a column of schemaless events nobody declared, guessed from a JSON value.
pub(crate) fn infer_type(value: &Value) -> Option<ColumnType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => ColumnType::Boolean,
        Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Long,
        Value::Number(_) => ColumnType::Double,
        _ => ColumnType::String,
    })
}

/// Whether a declared type may reuse the schema's encoding of the same column (e.g. a schema's
/// base64 decimal declared with another precision, epoch millis declared as `timestamptz`).
pub(crate) fn same_family(a: &cdc::ColumnType, b: &cdc::ColumnType) -> bool {
    use cdc::ColumnType as T;
    let temporal = |t: &T| matches!(t, T::Timestamp | T::TimestampTz | T::Date | T::Time);
    a == b
        || matches!((a, b), (T::Decimal { .. }, T::Decimal { .. }))
        || (temporal(a) && temporal(b))
}

/// Decodes one event value of `column` into the silver storage type `storage`. The TOAST
/// placeholder becomes [`TypedValue::Unavailable`].
pub(crate) fn decode_cell(
    column: &cdc::Column,
    storage: ColumnType,
    value: &Value,
) -> Result<TypedValue, String> {
    if value.is_null() {
        return Ok(TypedValue::Null);
    }
    // A list stored as text may be decoded without its schema: its placeholder is still a list.
    if cdc::is_unavailable_for(&column.ty, value)
        || (value.is_array() && cdc::is_unavailable(value))
    {
        return Ok(TypedValue::Unavailable);
    }
    if storage == ColumnType::String && column.ty != cdc::ColumnType::String {
        // Lists, structs and anything stored as text keep their JSON spelling.
        return Ok(TypedValue::String(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    let decoded = column.decode(value).map_err(|e| e.to_string())?;
    to_storage(decoded, storage).map_err(|e| format!("column `{}`: {e}", column.name))
}

/// Converts a decoded value to the variant `storage` holds, exactly or not at all.
pub(crate) fn to_storage(value: TypedValue, storage: ColumnType) -> Result<TypedValue, String> {
    use TypedValue as V;
    let out = match (value, storage) {
        (v @ (V::Null | V::Unavailable), _) => v,
        (v @ V::Boolean(_), ColumnType::Boolean) => v,
        (v @ V::Int32(_), ColumnType::Int) => v,
        (V::Int64(n), ColumnType::Int) => {
            V::Int32(i32::try_from(n).map_err(|_| format!("{n} does not fit a 32-bit int column"))?)
        }
        (V::Int32(n), ColumnType::Long) => V::Int64(i64::from(n)),
        (V::Time(n) | V::Int64(n), ColumnType::Long) => V::Int64(n),
        (V::Float32(f), ColumnType::Double) => V::Float64(f64::from(f)),
        (V::Int32(n), ColumnType::Double) => V::Float64(f64::from(n)),
        (v @ V::Float64(_), ColumnType::Double) => v,
        (V::Decimal(d), ColumnType::Decimal { precision, scale }) => {
            let scale = u8::try_from(scale).map_err(|_| "decimal scale over 38".to_owned())?;
            let d = d.rescale(scale).map_err(|e| e.to_string())?;
            if !d.fits(u8::try_from(precision).unwrap_or(cdc::MAX_PRECISION)) {
                return Err(format!("{d} has more than {precision} digits"));
            }
            V::Decimal(d)
        }
        (v @ V::Date(_), ColumnType::Date) => v,
        (V::Timestamp(t) | V::TimestampTz(t), ColumnType::Timestamp) => V::Timestamp(t),
        (V::Timestamp(t) | V::TimestampTz(t), ColumnType::Timestamptz) => V::TimestampTz(t),
        (v @ V::Binary(_), ColumnType::Binary) => v,
        (v @ V::String(_), ColumnType::String) => v,
        (other, ColumnType::String) => V::String(display(&other)),
        (other, storage) => {
            return Err(format!(
                "{other:?} cannot be stored in a {storage:?} column"
            ));
        }
    };
    Ok(out)
}

fn display(value: &TypedValue) -> String {
    match value {
        TypedValue::Boolean(b) => b.to_string(),
        TypedValue::Int32(n) => n.to_string(),
        TypedValue::Int64(n) | TypedValue::Time(n) => n.to_string(),
        TypedValue::Float32(f) => f.to_string(),
        TypedValue::Float64(f) => f.to_string(),
        TypedValue::Decimal(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Hash-map state for the merge's in-memory maps: keys come from the merged data itself, not
/// from an adversary, and SipHash was a visible share of the grouping time.
pub(crate) type FastState = foldhash::fast::RandomState;

/// A row's primary key, comparable between event rows and silver rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A key of one integer column (the common case): no text to build, hash or free.
    Int(i64),
    /// Any other key: the canonical text of its parts (see [`push_key_part`]).
    Text(String),
}

impl Key {
    /// The key of these decoded key-column values (in key-column order). The same values give
    /// the same key whichever side (event or silver, 32- or 64-bit int) they were decoded on.
    pub(crate) fn of<'v>(parts: impl ExactSizeIterator<Item = &'v TypedValue>) -> Self {
        let single = parts.len() == 1;
        let mut text = String::new();
        for part in parts {
            match part {
                TypedValue::Int32(n) if single => return Key::Int(i64::from(*n)),
                TypedValue::Int64(n) if single => return Key::Int(*n),
                other => push_key_part(&mut text, other),
            }
        }
        Key::Text(text)
    }

    /// The key of one integer column's value.
    pub(crate) fn int(n: i64) -> Self {
        Key::Int(n)
    }

    /// The first key column's value when it is an integer.
    pub(crate) fn first_int(&self) -> Option<i64> {
        match self {
            Key::Int(n) => Some(*n),
            // An integer part is written `i<n>` (see `push_key_part`).
            Key::Text(text) => text.split('\u{1f}').next()?.strip_prefix('i')?.parse().ok(),
        }
    }
}

/// A key part's canonical text: equal for the same key whether it was decoded from an event
/// (maybe as a 32-bit int) or read back from silver (maybe as a 64-bit long).
pub(crate) fn push_key_part(out: &mut String, value: &TypedValue) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match value {
        TypedValue::Int32(n) => write!(out, "i{n}"),
        TypedValue::Int64(n) => write!(out, "i{n}"),
        TypedValue::String(s) => write!(out, "s{}:{s}", s.len()),
        TypedValue::Decimal(d) => write!(out, "d{}e{}", d.unscaled(), d.scale()),
        other => write!(out, "{other:?}"),
    };
    out.push('\u{1f}');
}

/// Orders two values of one column for clustering rows by key (unlike kinds compare equal).
pub(crate) fn compare(a: &TypedValue, b: &TypedValue) -> Ordering {
    use TypedValue as V;
    let int = |v: &TypedValue| match v {
        V::Int32(n) => Some(i64::from(*n)),
        V::Int64(n) | V::Timestamp(n) | V::TimestampTz(n) => Some(*n),
        V::Date(n) => Some(i64::from(*n)),
        _ => None,
    };
    match (a, b) {
        (V::String(x), V::String(y)) => x.cmp(y),
        (V::Decimal(x), V::Decimal(y)) => x.unscaled().cmp(&y.unscaled()),
        (V::Null, V::Null) => Ordering::Equal,
        (V::Null, _) => Ordering::Less,
        (_, V::Null) => Ordering::Greater,
        _ => match (int(a), int(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

/// A source column decoded with default encodings.
pub(crate) fn declared_column(name: &str, ty: cdc::ColumnType) -> cdc::Column {
    cdc::Column {
        name: name.to_owned(),
        ty,
        encoding: Encoding::Default,
        nullable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_decode_exactly_into_the_stored_scale() {
        let price = cdc::Column {
            name: "price".into(),
            ty: cdc::ColumnType::Decimal {
                precision: 10,
                scale: 2,
            },
            encoding: Encoding::Base64,
            nullable: true,
        };
        let stored = ColumnType::Decimal {
            precision: 12,
            scale: 3,
        };
        // `+x4=` is -1250 at scale 2.
        let TypedValue::Decimal(d) = decode_cell(&price, stored, &json!("+x4=")).unwrap() else {
            panic!("not a decimal")
        };
        assert_eq!(d.to_string(), "-12.500");
        let narrow = ColumnType::Decimal {
            precision: 3,
            scale: 2,
        };
        assert!(
            decode_cell(&price, narrow, &json!("+x4=")).is_err(),
            "never truncated"
        );
    }

    #[test]
    fn lists_are_text_and_their_toast_placeholder_is_seen_without_a_schema() {
        let tags = declared_column("tags", cdc::ColumnType::String);
        let placeholder = json!(["__debezium_unavailable_value"]);
        assert_eq!(
            decode_cell(&tags, ColumnType::String, &placeholder).unwrap(),
            TypedValue::Unavailable
        );
        let list = declared_column(
            "tags",
            cdc::ColumnType::List(Box::new(cdc::ColumnType::String)),
        );
        assert_eq!(
            decode_cell(&list, ColumnType::String, &json!(["a", "b"])).unwrap(),
            TypedValue::String(r#"["a","b"]"#.into())
        );
    }

    #[test]
    fn keys_match_across_integer_widths_but_not_across_kinds() {
        let key = |v: TypedValue| {
            let mut s = String::new();
            push_key_part(&mut s, &v);
            s
        };
        assert_eq!(key(TypedValue::Int32(5)), key(TypedValue::Int64(5)));
        assert_ne!(
            key(TypedValue::Int64(5)),
            key(TypedValue::String("5".into()))
        );
        assert_eq!(
            to_storage(TypedValue::Int32(7), ColumnType::Long),
            Ok(TypedValue::Int64(7))
        );
        assert!(to_storage(TypedValue::Int64(1 << 40), ColumnType::Int).is_err());
        let two_ints = Key::of([TypedValue::Int32(-4), TypedValue::Int64(9)].iter());
        assert_eq!(two_ints.first_int(), Some(-4));
        assert_eq!(
            Key::of([TypedValue::String("i5".into()), TypedValue::Int64(9)].iter()).first_int(),
            None,
            "a text part that looks like an integer's is not one"
        );
        assert_eq!(Key::int(12).first_int(), Some(12));
        let one = |v: TypedValue| Key::of([v].iter());
        assert_eq!(one(TypedValue::Int32(5)), one(TypedValue::Int64(5)));
        assert_eq!(one(TypedValue::Int64(5)), Key::int(5));
        assert_ne!(
            one(TypedValue::Int64(5)),
            one(TypedValue::String("5".into()))
        );
        let two = |a: TypedValue, b: TypedValue| Key::of([a, b].iter());
        assert_eq!(
            two(TypedValue::Int32(1), TypedValue::String("x".into())),
            two(TypedValue::Int64(1), TypedValue::String("x".into()))
        );
        assert_ne!(
            two(TypedValue::Int64(1), TypedValue::Int64(23)),
            two(TypedValue::Int64(12), TypedValue::Int64(3))
        );
    }
}
