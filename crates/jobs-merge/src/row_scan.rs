//! One pass over an upsert's `after` text: the key columns' raw JSON and the names of every
//! column (with a type guess for schemaless events), without parsing the values.

use flowctl_lakehouse::ColumnType;
use indexmap::IndexMap;
use serde_json::Value;

use crate::json_scan;
use crate::values::{self, FastState};

/// Column names seen in upserted rows, with a type guessed from their first non-null value.
pub(crate) type Seen = IndexMap<String, Option<ColumnType>, FastState>;

/// Scans an upsert's `after` object once: borrows the JSON text of the key columns into `key`
/// (in `names` order) and notes every member in `seen`. No value is parsed, no map is built: a
/// hand-written walk of the text does it, and serde_json when the walk is unsure.
pub(crate) fn scan_row<'de>(
    json: &'de str,
    names: &[String],
    key: &mut [Option<&'de str>],
    seen: &mut SeenColumns,
) -> Result<(), String> {
    let mut position = 0;
    let understood = json_scan::object_members(json, |name, raw| {
        // A repeated member: the last one counts, as when parsing into a map.
        if let Some(at) = names.iter().position(|k| k == name) {
            key[at] = Some(raw);
        }
        seen.note(position, name, raw);
        position += 1;
    });
    if understood {
        return Ok(());
    }
    key.fill(None);
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(json);
    (&mut de)
        .deserialize_map(RowScan { names, key, seen })
        .and_then(|()| de.end())
        .map_err(|e| format!("`after` is not a JSON object: {e}"))
}

/// A member name, borrowed from the JSON text unless it has escapes.
#[derive(serde::Deserialize)]
struct Name<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

struct RowScan<'a, 'de> {
    names: &'a [String],
    key: &'a mut [Option<&'de str>],
    seen: &'a mut SeenColumns,
}

impl<'de> serde::de::Visitor<'de> for RowScan<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut position = 0;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            let raw: &'de serde_json::value::RawValue = map.next_value()?;
            // A repeated member: the last one counts, as when parsing into a map.
            if let Some(at) = self.names.iter().position(|k| *k == *name) {
                self.key[at] = Some(raw.get());
            }
            self.seen.note(position, &name, raw.get());
            position += 1;
        }
        Ok(())
    }
}

/// The column names of upserted rows, as they are scanned.
#[derive(Default)]
pub(crate) struct SeenColumns {
    pub columns: Seen,
    /// The member names of the last rows, by position in the object, that need no more noting
    /// (known, with a type). Rows of one table repeat their names in the same order, so most
    /// members are settled by one string comparison instead of a map lookup.
    settled: Vec<Option<Box<str>>>,
}

impl SeenColumns {
    /// Records the `position`-th member of a row (and a type guess from its first non-null
    /// value).
    fn note(&mut self, position: usize, name: &str, raw: &str) {
        if self
            .settled
            .get(position)
            .is_some_and(|s| s.as_deref() == Some(name))
        {
            return;
        }
        let settled = match self.columns.get_mut(name) {
            Some(Some(_)) => true,
            known => {
                let guess = serde_json::from_str::<Value>(raw)
                    .ok()
                    .as_ref()
                    .and_then(values::infer_type);
                let settled = guess.is_some();
                match known {
                    Some(slot) => *slot = slot.or(guess),
                    None => {
                        self.columns.insert(name.to_owned(), guess);
                    }
                }
                settled
            }
        };
        if self.settled.len() <= position {
            self.settled.resize(position + 1, None);
        }
        self.settled[position] = settled.then(|| name.into());
    }
}
