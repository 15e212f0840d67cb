//! Allocation-light JSON plumbing: a top-level object read as `(key, raw value)` pairs.
//!
//! Bronze ingest parses every Kafka message, so the envelope is not built as a `serde_json::Value`
//! tree. One pass records each top-level member as borrowed raw JSON text; only the members that
//! are needed (`op`, `source`, ...) are then deserialised into small typed structs, and `before` /
//! `after` stay raw text that bronze stores verbatim.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{CdcError, raw_kind};

/// A string borrowed from the input when it has no escapes, owned otherwise.
///
/// serde's own `Cow<str>` impl always allocates; this one borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A top-level JSON document, classified without building a tree.
pub(crate) enum TopLevel<'a> {
    /// `null`.
    Null,
    /// An object, member by member, in document order.
    Object(RawObject<'a>),
    /// Anything else; the payload is its kind for error messages ("an array").
    Other(&'static str),
}

/// The members of a JSON object as borrowed raw text.
pub(crate) struct RawObject<'a> {
    pub(crate) members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// The raw value of member `key`, if present (the last one wins, as in `serde_json::Value`).
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// The member names, comma-separated, at most `max` of them (for error messages).
    pub(crate) fn key_list(&self, max: usize) -> String {
        let mut names: Vec<&str> = self
            .members
            .iter()
            .take(max)
            .map(|(k, _)| k.as_ref())
            .collect();
        if self.members.len() > max {
            names.push("…");
        }
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TopLevel::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TopLevel::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TopLevel::Other("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TopLevel::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TopLevel::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TopLevel::Other("a number"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TopLevel::Other("a string"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Drain the array so that the document is still checked to the end.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TopLevel::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Debezium envelopes have 5–8 members; flattened rows a few dozen at most.
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(10));
                while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(TopLevel::Object(RawObject { members }))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Parses a whole document (strict JSON, nothing after it).
pub(crate) fn parse_top_slice(bytes: &[u8]) -> Result<TopLevel<'_>, CdcError> {
    serde_json::from_slice(bytes).map_err(|e| CdcError::json(&e))
}

/// Parses an embedded raw value (e.g. the `payload` of a schema wrapper) as a top-level document.
pub(crate) fn parse_top_raw(raw: &RawValue) -> Result<TopLevel<'_>, CdcError> {
    serde_json::from_str(raw.get()).map_err(|e| CdcError::json(&e))
}

/// True when the raw value is JSON `null`.
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// True when the raw value is a JSON object.
pub(crate) fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// An optional object member: `null` or absent → `None`, an object → its raw text, else an error.
pub(crate) fn opt_object<'a>(
    raw: Option<&'a RawValue>,
    field: &str,
) -> Result<Option<&'a RawValue>, CdcError> {
    match raw {
        None => Ok(None),
        Some(r) if is_null(r) => Ok(None),
        Some(r) if is_object(r) => Ok(Some(r)),
        Some(r) => Err(CdcError::field(
            field,
            format!("expected a JSON object or null, found {}", raw_kind(r)),
        )),
    }
}

/// A required string member.
pub(crate) fn string<'a>(raw: &'a RawValue, field: &str) -> Result<Cow<'a, str>, CdcError> {
    serde_json::from_str::<CowStr<'a>>(raw.get())
        .map(|s| s.0)
        .map_err(|_| CdcError::field(field, format!("expected a string, found {}", raw_kind(raw))))
}

/// An optional string member (`null` or absent → `None`).
pub(crate) fn opt_string<'a>(
    raw: Option<&'a RawValue>,
    field: &str,
) -> Result<Option<Cow<'a, str>>, CdcError> {
    match raw {
        None => Ok(None),
        Some(r) if is_null(r) => Ok(None),
        Some(r) => string(r, field).map(Some),
    }
}

/// An optional integer member (`null` or absent → `None`).
///
/// A string holding an integer is accepted too: some converters quote 64-bit values.
pub(crate) fn opt_i64(raw: Option<&RawValue>, field: &str) -> Result<Option<i64>, CdcError> {
    let Some(r) = raw else { return Ok(None) };
    if is_null(r) {
        return Ok(None);
    }
    let text = r.get();
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    digits.parse::<i64>().map(Some).map_err(|_| {
        CdcError::field(
            field,
            format!("expected a 64-bit integer, found {}", short(text)),
        )
    })
}

/// At most 40 characters of raw JSON for an error message.
pub(crate) fn short(text: &str) -> String {
    if text.chars().count() <= 40 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(40).collect::<String>())
    }
}
