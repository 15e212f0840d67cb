//! Column types: from the Kafka Connect schema that the JSON converter embeds, or declared by a
//! user in a step (`decimal(10,2)`, `timestamptz`, …).
//!
//! [`ColumnType`] is the logical type a silver table stores (Iceberg's types). [`Encoding`] says
//! how the JSON value of that column was written by Debezium (base64 decimal bytes, epoch
//! milliseconds vs microseconds, …); the schema knows it, a declared type uses the defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decimal::MAX_PRECISION;
use crate::error::CdcError;
use crate::flatten::is_metadata_field;

/// The logical type of a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `boolean`.
    Boolean,
    /// 32-bit integer (`int`; also Connect int8/int16).
    Int32,
    /// 64-bit integer (`long`/`bigint`).
    Int64,
    /// 32-bit float (`float`).
    Float32,
    /// 64-bit float (`double`).
    Float64,
    /// UTF-8 text. Also UUIDs, JSON documents, enums and other types without a better match.
    String,
    /// Bytes.
    Binary,
    /// Exact decimal with `precision` (1–38) digits, `scale` of them after the point.
    Decimal {
        /// Total number of digits.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// Calendar date (days since 1970-01-01).
    Date,
    /// Time of day, microseconds since midnight.
    Time,
    /// Date and time without time zone, microseconds since 1970-01-01T00:00:00.
    Timestamp,
    /// Instant, microseconds since 1970-01-01T00:00:00Z.
    TimestampTz,
    /// A list of values of one type.
    List(Box<ColumnType>),
}

impl ColumnType {
    /// A decimal type, checking 1 ≤ precision ≤ 38 and scale ≤ precision.
    pub fn decimal(precision: u8, scale: u8) -> Result<ColumnType, String> {
        if precision == 0 || precision > MAX_PRECISION {
            return Err(format!(
                "decimal precision must be between 1 and {MAX_PRECISION}, got {precision}"
            ));
        }
        if scale > precision {
            return Err(format!(
                "decimal scale {scale} exceeds its precision {precision}"
            ));
        }
        Ok(ColumnType::Decimal { precision, scale })
    }
}

impl fmt::Display for ColumnType {
    /// Iceberg's spelling, which [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Int32 => f.write_str("int"),
            ColumnType::Int64 => f.write_str("long"),
            ColumnType::Float32 => f.write_str("float"),
            ColumnType::Float64 => f.write_str("double"),
            ColumnType::String => f.write_str("string"),
            ColumnType::Binary => f.write_str("binary"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Time => f.write_str("time"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::TimestampTz => f.write_str("timestamptz"),
            ColumnType::List(item) => write!(f, "list<{item}>"),
        }
    }
}

impl FromStr for ColumnType {
    type Err = CdcError;

    /// Parses a declared column type, case-insensitively:
    ///
    /// | written | type |
    /// |---|---|
    /// | `boolean`, `bool` | Boolean |
    /// | `int`, `integer`, `int4`, `int32`, `smallint`, `int2`, `tinyint` | Int32 |
    /// | `long`, `bigint`, `int8`, `int64` | Int64 |
    /// | `float`, `real`, `float4`, `float32` | Float32 (Iceberg's `float`) |
    /// | `double`, `double precision`, `float8`, `float64` | Float64 |
    /// | `string`, `text`, `varchar`, `varchar(n)`, `char(n)`, `uuid`, `json`, `jsonb` | String |
    /// | `binary`, `bytes`, `bytea` | Binary |
    /// | `decimal(p,s)`, `numeric(p,s)`, `decimal(p)` (scale 0) | Decimal |
    /// | `date`, `time` | Date, Time |
    /// | `timestamp`, `timestamp without time zone`, `timestamp_ntz` | Timestamp |
    /// | `timestamptz`, `timestamp with time zone`, `timestamp_ltz` | TimestampTz |
    /// | `list<T>`, `array<T>`, `T[]` | List |
    fn from_str(input: &str) -> Result<ColumnType, CdcError> {
        parse_type(input).map_err(|reason| CdcError::InvalidColumnType {
            input: input.to_owned(),
            reason,
        })
    }
}

fn parse_type(input: &str) -> Result<ColumnType, String> {
    let text = input.trim().to_ascii_lowercase();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(item) = text.strip_suffix("[]") {
        return Ok(ColumnType::List(Box::new(parse_type(item)?)));
    }
    for prefix in ["list<", "array<"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let item = rest.strip_suffix('>').ok_or("missing `>`")?;
            return Ok(ColumnType::List(Box::new(parse_type(item)?)));
        }
    }
    let (name, args) = match text.split_once('(') {
        Some((name, rest)) => {
            let args = rest.strip_suffix(')').ok_or("missing `)`")?;
            (name.trim(), Some(args))
        }
        None => (text.as_str(), None),
    };
    let no_args = |t: ColumnType| match args {
        None => Ok(t),
        Some(_) => Err(format!("`{name}` takes no arguments")),
    };
    match name {
        "boolean" | "bool" => no_args(ColumnType::Boolean),
        "int" | "integer" | "int4" | "int32" | "smallint" | "int2" | "tinyint" => {
            no_args(ColumnType::Int32)
        }
        "long" | "bigint" | "int8" | "int64" => no_args(ColumnType::Int64),
        "float" | "real" | "float4" | "float32" => no_args(ColumnType::Float32),
        "double" | "double precision" | "float8" | "float64" => no_args(ColumnType::Float64),
        // A length limit does not change how the text is stored.
        "varchar" | "char" | "character varying" | "character" => Ok(ColumnType::String),
        "string" | "text" | "uuid" | "json" | "jsonb" => no_args(ColumnType::String),
        "binary" | "bytes" | "bytea" => no_args(ColumnType::Binary),
        "date" => no_args(ColumnType::Date),
        "time" => no_args(ColumnType::Time),
        "timestamp" | "timestamp without time zone" | "timestamp_ntz" => {
            no_args(ColumnType::Timestamp)
        }
        "timestamptz" | "timestamp with time zone" | "timestamp_ltz" => {
            no_args(ColumnType::TimestampTz)
        }
        "decimal" | "numeric" => {
            let args = args.ok_or("a decimal needs its precision and scale, e.g. decimal(10,2)")?;
            let mut parts = args.split(',').map(str::trim);
            let number = |p: Option<&str>, what: &str| -> Result<u8, String> {
                let p = p.ok_or(format!("missing {what}"))?;
                p.parse::<u8>()
                    .map_err(|_| format!("{what} `{p}` is not a number from 0 to 38"))
            };
            let precision = number(parts.next(), "precision")?;
            let scale = match parts.next() {
                Some(s) => number(Some(s), "scale")?,
                None => 0,
            };
            if parts.next().is_some() {
                return Err("a decimal takes two arguments: decimal(precision,scale)".to_owned());
            }
            ColumnType::decimal(precision, scale)
        }
        "" => Err("empty type".to_owned()),
        other => Err(format!(
            "unknown type `{other}` (expected boolean, int, bigint, float, double, string, binary, \
             decimal(p,s), date, time, timestamp, timestamptz or list<T>)"
        )),
    }
}

/// How a column's JSON value is written, when the type alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// Debezium's defaults: decimal strings are base64 bytes (`decimal.handling.mode=precise`)
    /// when they decode as base64, else decimal text; integer timestamps and times are
    /// microseconds (PostgreSQL's default precision 6); dates are epoch days.
    #[default]
    Default,
    /// Decimal/binary strings are base64 bytes (Connect `Decimal`, `bytes`).
    Base64,
    /// Decimal strings are decimal text (`decimal.handling.mode=string`). Needed when such text
    /// may be all digits, which [`Encoding::Default`] would read as base64.
    DecimalText,
    /// Integer timestamps/times are milliseconds (`io.debezium.time.Timestamp`, `Time`).
    Millis,
    /// Integer timestamps/times are microseconds (`MicroTimestamp`, `MicroTime`).
    Micros,
    /// Integer timestamps/times are nanoseconds (`NanoTimestamp`, `NanoTime`); decoding truncates
    /// to microseconds.
    Nanos,
    /// `io.debezium.data.VariableScaleDecimal`: an object `{"scale": s, "value": base64}`,
    /// decoded to exact decimal text (its scale varies per row).
    VariableScaleDecimal,
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Logical type.
    pub ty: ColumnType,
    /// How its JSON value is written.
    pub encoding: Encoding,
    /// Whether the column may be null (Connect `optional`).
    pub nullable: bool,
}

impl Column {
    /// A column declared by a user: default encoding, nullable.
    pub fn declared(name: impl Into<String>, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ty,
            encoding: Encoding::Default,
            nullable: true,
        }
    }
}

/// A Kafka Connect schema as the JSON converter writes it (`schemas.enable=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectSchema {
    /// Physical type: `int8`…`int64`, `float`, `double`, `boolean`, `string`, `bytes`, `array`,
    /// `map`, `struct`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether the value may be null.
    #[serde(default)]
    pub optional: bool,
    /// Logical type name, e.g. `org.apache.kafka.connect.data.Decimal`, `io.debezium.time.Date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Logical type version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Logical type parameters, e.g. `scale`, `connect.decimal.precision`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Value>,
    /// The field name, when this schema is a struct member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Struct members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ConnectSchema>,
    /// Array element schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<ConnectSchema>>,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

impl ConnectSchema {
    /// Parses a schema from JSON text.
    pub fn parse(json: &str) -> Result<ConnectSchema, CdcError> {
        serde_json::from_str(json).map_err(|e| CdcError::InvalidSchema(e.to_string()))
    }

    /// The struct member named `name`.
    pub fn member(&self, name: &str) -> Option<&ConnectSchema> {
        self.fields
            .iter()
            .find(|f| f.field.as_deref() == Some(name))
    }

    /// The row's columns. For an envelope schema (a struct with `op` and an `after` or `before`
    /// struct) those are the row struct's members; for a flattened record's schema, its own
    /// members minus `ExtractNewRecordState` metadata (`__op`, `__deleted`, `__lsn`, …); for a
    /// key schema, the key columns.
    pub fn row_columns(&self) -> Result<Vec<Column>, CdcError> {
        let is_envelope = self.member("op").is_some()
            && ["after", "before"]
                .iter()
                .any(|n| self.member(n).is_some_and(|s| s.is_struct()));
        if is_envelope {
            let row = ["after", "before"]
                .iter()
                .filter_map(|n| self.member(n))
                .find(|s| s.is_struct())
                .ok_or_else(|| {
                    CdcError::InvalidSchema("envelope without a row struct".to_owned())
                })?;
            return row.columns();
        }
        Ok(self
            .columns()?
            .into_iter()
            .filter(|c| !is_metadata_field(&c.name))
            .collect())
    }

    /// The members of a struct schema as columns.
    pub fn columns(&self) -> Result<Vec<Column>, CdcError> {
        if !self.is_struct() {
            return Err(CdcError::InvalidSchema(format!(
                "expected a struct schema, found `{}`",
                self.type_name
            )));
        }
        self.fields
            .iter()
            .map(|f| {
                let name = f.field.clone().ok_or_else(|| {
                    CdcError::InvalidSchema("a struct member has no `field` name".to_owned())
                })?;
                let (ty, encoding) = f.column_type().map_err(|e| match e {
                    CdcError::InvalidSchema(msg) => {
                        CdcError::InvalidSchema(format!("field `{name}`: {msg}"))
                    }
                    other => other,
                })?;
                Ok(Column {
                    name,
                    ty,
                    encoding,
                    nullable: f.optional,
                })
            })
            .collect()
    }

    fn is_struct(&self) -> bool {
        self.type_name.eq_ignore_ascii_case("struct")
    }

    /// The column type and encoding of this (member) schema, from its logical name when it has a
    /// known one, else from its physical type.
    pub fn column_type(&self) -> Result<(ColumnType, Encoding), CdcError> {
        use ColumnType as T;
        use Encoding as E;
        if let Some(name) = self.name.as_deref() {
            let mapped = match name {
                "org.apache.kafka.connect.data.Decimal" => Some((self.decimal_type()?, E::Base64)),
                "io.debezium.data.VariableScaleDecimal" => {
                    Some((T::String, E::VariableScaleDecimal))
                }
                "org.apache.kafka.connect.data.Date" | "io.debezium.time.Date" => {
                    Some((T::Date, E::Default))
                }
                "org.apache.kafka.connect.data.Time" | "io.debezium.time.Time" => {
                    Some((T::Time, E::Millis))
                }
                "io.debezium.time.MicroTime" => Some((T::Time, E::Micros)),
                "io.debezium.time.NanoTime" => Some((T::Time, E::Nanos)),
                "org.apache.kafka.connect.data.Timestamp" | "io.debezium.time.Timestamp" => {
                    Some((T::Timestamp, E::Millis))
                }
                "io.debezium.time.MicroTimestamp" => Some((T::Timestamp, E::Micros)),
                "io.debezium.time.NanoTimestamp" => Some((T::Timestamp, E::Nanos)),
                "io.debezium.time.ZonedTimestamp" => Some((T::TimestampTz, E::Default)),
                "io.debezium.time.IsoDate" => Some((T::Date, E::Default)),
                "io.debezium.time.IsoTime" => Some((T::Time, E::Default)),
                "io.debezium.time.IsoTimestamp" => Some((T::Timestamp, E::Default)),
                // No zoned time-of-day type in Iceberg: keep Debezium's ISO text.
                "io.debezium.time.ZonedTime" | "io.debezium.time.Interval" => {
                    Some((T::String, E::Default))
                }
                "io.debezium.time.Year" => Some((T::Int32, E::Default)),
                "io.debezium.time.MicroDuration" => Some((T::Int64, E::Default)),
                "io.debezium.data.Uuid"
                | "io.debezium.data.Json"
                | "io.debezium.data.Xml"
                | "io.debezium.data.Enum"
                | "io.debezium.data.EnumSet"
                | "io.debezium.data.Ltree" => Some((T::String, E::Default)),
                "io.debezium.data.Bits" => Some((T::Binary, E::Base64)),
                _ => None,
            };
            if let Some(mapped) = mapped {
                return Ok(mapped);
            }
        }
        let physical = self.type_name.to_ascii_lowercase();
        Ok(match physical.as_str() {
            "boolean" => (T::Boolean, E::Default),
            "int8" | "int16" | "int32" => (T::Int32, E::Default),
            "int64" => (T::Int64, E::Default),
            "float" | "float32" => (T::Float32, E::Default),
            "double" | "float64" => (T::Float64, E::Default),
            "string" => (T::String, E::Default),
            "bytes" => (T::Binary, E::Base64),
            "array" => {
                let items = self.items.as_deref().ok_or_else(|| {
                    CdcError::InvalidSchema("an array schema has no `items`".to_owned())
                })?;
                let (item, encoding) = items.column_type()?;
                (T::List(Box::new(item)), encoding)
            }
            // Nested structs and maps (geometry, hstore as map, …) are kept as JSON text.
            "struct" | "map" => (T::String, E::Default),
            other => {
                return Err(CdcError::InvalidSchema(format!(
                    "unknown Connect type `{other}`"
                )));
            }
        })
    }

    /// `decimal(p,s)` from Connect's `Decimal` parameters; precision defaults to 38.
    fn decimal_type(&self) -> Result<ColumnType, CdcError> {
        let param = |key: &str| -> Result<Option<u8>, CdcError> {
            let Some(v) = self.parameters.get(key) else {
                return Ok(None);
            };
            let n = match v {
                Value::String(s) => s.parse::<u8>().ok(),
                Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
                _ => None,
            };
            n.map(Some).ok_or_else(|| {
                CdcError::InvalidSchema(format!(
                    "decimal parameter `{key}` is not a small number: {v}"
                ))
            })
        };
        let scale = param("scale")?.ok_or_else(|| {
            CdcError::InvalidSchema("a Decimal schema has no `scale` parameter".to_owned())
        })?;
        let precision = param("connect.decimal.precision")?.unwrap_or(MAX_PRECISION);
        ColumnType::decimal(precision, scale).map_err(CdcError::InvalidSchema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_parse_and_round_trip() {
        let cases = [
            (
                "decimal(10,2)",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 2,
                },
            ),
            (
                "NUMERIC( 38 , 0 )",
                ColumnType::Decimal {
                    precision: 38,
                    scale: 0,
                },
            ),
            (
                "decimal(5)",
                ColumnType::Decimal {
                    precision: 5,
                    scale: 0,
                },
            ),
            ("timestamp", ColumnType::Timestamp),
            ("Timestamp With Time Zone", ColumnType::TimestampTz),
            ("timestamptz", ColumnType::TimestampTz),
            ("date", ColumnType::Date),
            ("int", ColumnType::Int32),
            ("bigint", ColumnType::Int64),
            ("string", ColumnType::String),
            ("varchar(255)", ColumnType::String),
            ("boolean", ColumnType::Boolean),
            ("double", ColumnType::Float64),
            ("double precision", ColumnType::Float64),
            ("float", ColumnType::Float32),
            ("list<int>", ColumnType::List(Box::new(ColumnType::Int32))),
            ("text[]", ColumnType::List(Box::new(ColumnType::String))),
            (
                "array<decimal(4,1)>",
                ColumnType::List(Box::new(ColumnType::Decimal {
                    precision: 4,
                    scale: 1,
                })),
            ),
        ];
        for (text, expected) in cases {
            let parsed: ColumnType = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed, expected, "{text}");
            let again: ColumnType = parsed.to_string().parse().unwrap();
            assert_eq!(again, parsed, "round trip of {text}");
        }
    }

    #[test]
    fn bad_declared_types_say_why() {
        let msg = |t: &str| t.parse::<ColumnType>().unwrap_err().to_string();
        assert!(
            msg("decimal").contains("needs its precision and scale"),
            "{}",
            msg("decimal")
        );
        assert!(msg("decimal(39,2)").contains("between 1 and 38"));
        assert!(msg("decimal(4,6)").contains("exceeds its precision"));
        assert!(msg("decimal(a,2)").contains("precision `a`"));
        assert!(msg("decimal(10,2").contains("missing `)`"));
        assert!(msg("int(4)").contains("takes no arguments"));
        assert!(msg("money").contains("unknown type `money`"));
        assert!(msg("list<int").contains("missing `>`"));
        assert!(msg("").contains("empty type"));
    }

    #[test]
    fn decimal_precision_defaults_to_38() {
        let s = ConnectSchema::parse(
            r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal",
                "version":1,"parameters":{"scale":"2"},"field":"price"}"#,
        )
        .unwrap();
        assert_eq!(
            s.column_type().unwrap(),
            (
                ColumnType::Decimal {
                    precision: 38,
                    scale: 2
                },
                Encoding::Base64
            )
        );
        let no_scale = ConnectSchema::parse(
            r#"{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"p"}"#,
        )
        .unwrap();
        assert!(
            no_scale
                .column_type()
                .unwrap_err()
                .to_string()
                .contains("no `scale`")
        );
    }
}
