//! Debezium value messages: change events, tombstones, transaction markers.
//!
//! Three shapes reach a topic, each with or without the JSON converter's
//! `{"schema": …, "payload": …}` wrapper:
//!
//! * the change-event envelope: `before`, `after`, `source`, `op`, `ts_ms`, `transaction`;
//! * a record flattened by the `ExtractNewRecordState` transform: the row's columns plus metadata
//!   named by `add.fields` (`__op`, `__deleted`, `__lsn`, `__source_ts_ms`, …), see [`crate::flatten`];
//! * a transaction marker from the transaction topic: `status` BEGIN or END, `id`, `event_count`, ….
//!
//! An empty or `null` value is a tombstone (log compaction's delete marker for the key).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::CdcError;
use crate::flatten;
use crate::ordering::OrderingKey;
use crate::raw::{self, CowStr, RawObject, TopLevel};
use crate::schema::{Column, ConnectSchema};

/// One Kafka message value, understood.
// Boxing the change event would cost an allocation per message on bronze's hot path; the enum
// is returned by value and matched at once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Message<'a> {
    /// A row change (envelope or flattened record).
    Change(ChangeEvent<'a>),
    /// An empty or `null` value: the compaction marker that follows a delete. Carries no data.
    Tombstone,
    /// A BEGIN or END marker from the transaction metadata topic.
    Transaction(TransactionMarker<'a>),
}

/// The Debezium operation of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `c`: a row was inserted.
    Create,
    /// `u`: a row was updated.
    Update,
    /// `d`: a row was deleted.
    Delete,
    /// `r`: a row read by a snapshot.
    Read,
    /// `t`: the table was truncated (no row).
    Truncate,
}

impl Op {
    /// Parses Debezium's one-letter code.
    pub fn from_code(code: &str) -> Result<Op, CdcError> {
        match code {
            "c" => Ok(Op::Create),
            "u" => Ok(Op::Update),
            "d" => Ok(Op::Delete),
            "r" => Ok(Op::Read),
            "t" => Ok(Op::Truncate),
            other => Err(CdcError::UnknownOp(raw::short(other))),
        }
    }

    /// Debezium's one-letter code (`c`, `u`, `d`, `r`, `t`), as stored in bronze.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
        }
    }

    /// True for the operations whose `after` row is the new state of the key (c, u, r).
    pub fn is_upsert(self) -> bool {
        matches!(self, Op::Create | Op::Update | Op::Read)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a change event was laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The full envelope (`before`, `after`, `source`, `op`).
    Envelope,
    /// A record flattened by `ExtractNewRecordState`; `before`/`after` were rebuilt from its columns.
    Flattened,
}

/// The `source.snapshot` marker. Debezium 1.x wrote a boolean or `"true"/"last"/"false"`; 2.x adds
/// `first`, `first_in_data_collection`, `last_in_data_collection` and `incremental`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot<'a> {
    /// Not a snapshot read (streaming).
    False,
    /// A snapshot read (not the first or last).
    True,
    /// The first record of the snapshot.
    First,
    /// The first record of a table in the snapshot.
    FirstInDataCollection,
    /// The last record of a table in the snapshot.
    LastInDataCollection,
    /// The last record of the snapshot.
    Last,
    /// A record of an incremental (signal-triggered) snapshot.
    Incremental,
    /// A marker this crate does not know, kept verbatim.
    Other(Cow<'a, str>),
}

impl<'a> Snapshot<'a> {
    fn from_text(text: Cow<'a, str>) -> Snapshot<'a> {
        match text.as_ref() {
            "false" => Snapshot::False,
            "true" => Snapshot::True,
            "first" => Snapshot::First,
            "first_in_data_collection" => Snapshot::FirstInDataCollection,
            "last_in_data_collection" => Snapshot::LastInDataCollection,
            "last" => Snapshot::Last,
            "incremental" => Snapshot::Incremental,
            _ => Snapshot::Other(text),
        }
    }

    /// True when the record comes from a snapshot rather than the replication stream.
    pub fn is_snapshot(&self) -> bool {
        !matches!(self, Snapshot::False)
    }

    /// The marker as Debezium 2.x writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Snapshot::False => "false",
            Snapshot::True => "true",
            Snapshot::First => "first",
            Snapshot::FirstInDataCollection => "first_in_data_collection",
            Snapshot::LastInDataCollection => "last_in_data_collection",
            Snapshot::Last => "last",
            Snapshot::Incremental => "incremental",
            Snapshot::Other(text) => text,
        }
    }

    fn into_owned(self) -> Snapshot<'static> {
        match self {
            Snapshot::False => Snapshot::False,
            Snapshot::True => Snapshot::True,
            Snapshot::First => Snapshot::First,
            Snapshot::FirstInDataCollection => Snapshot::FirstInDataCollection,
            Snapshot::LastInDataCollection => Snapshot::LastInDataCollection,
            Snapshot::Last => Snapshot::Last,
            Snapshot::Incremental => Snapshot::Incremental,
            Snapshot::Other(text) => Snapshot::Other(Cow::Owned(text.into_owned())),
        }
    }

    /// Reads the marker from raw JSON: a boolean (1.x documentation) or a string.
    pub(crate) fn from_raw(
        raw: &'a RawValue,
        field: &str,
    ) -> Result<Option<Snapshot<'a>>, CdcError> {
        match raw.get() {
            "null" => Ok(None),
            "true" => Ok(Some(Snapshot::True)),
            "false" => Ok(Some(Snapshot::False)),
            _ => raw::string(raw, field).map(|t| Some(Snapshot::from_text(t))),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Snapshot<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: &'de RawValue = Deserialize::deserialize(deserializer)?;
        match Snapshot::from_raw(raw, "source.snapshot") {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(serde::de::Error::custom("unexpected null")),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

/// The `source` block: where and when the change happened. Every field is optional because
/// connectors, versions and the flattening transform each carry a different subset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source<'a> {
    /// Debezium version, e.g. `2.6.2.Final`.
    pub version: Option<Cow<'a, str>>,
    /// Connector kind, e.g. `postgresql`.
    pub connector: Option<Cow<'a, str>>,
    /// The connector's logical name (the topic prefix).
    pub name: Option<Cow<'a, str>>,
    /// Source database.
    pub db: Option<Cow<'a, str>>,
    /// Source schema (`public`).
    pub schema: Option<Cow<'a, str>>,
    /// Source table.
    pub table: Option<Cow<'a, str>>,
    /// PostgreSQL log sequence number of the change.
    pub lsn: Option<i64>,
    /// Source transaction id (`txId`).
    pub tx_id: Option<i64>,
    /// When the change was made in the database, epoch milliseconds.
    pub ts_ms: Option<i64>,
    /// Same, microseconds (Debezium ≥ 2.6).
    pub ts_us: Option<i64>,
    /// Same, nanoseconds (Debezium ≥ 2.6).
    pub ts_ns: Option<i64>,
    /// Snapshot marker.
    pub snapshot: Option<Snapshot<'a>>,
    /// PostgreSQL `sequence`: a JSON array text `["<last commit lsn>","<lsn>"]`.
    pub sequence: Option<Cow<'a, str>>,
    /// PostgreSQL `xmin`.
    pub xmin: Option<i64>,
}

#[derive(Deserialize)]
struct SourceWire<'a> {
    #[serde(borrow)]
    version: Option<CowStr<'a>>,
    #[serde(borrow)]
    connector: Option<CowStr<'a>>,
    #[serde(borrow)]
    name: Option<CowStr<'a>>,
    #[serde(borrow)]
    db: Option<CowStr<'a>>,
    #[serde(borrow)]
    schema: Option<CowStr<'a>>,
    #[serde(borrow)]
    table: Option<CowStr<'a>>,
    lsn: Option<i64>,
    #[serde(rename = "txId")]
    tx_id: Option<i64>,
    ts_ms: Option<i64>,
    ts_us: Option<i64>,
    ts_ns: Option<i64>,
    #[serde(borrow)]
    snapshot: Option<Snapshot<'a>>,
    #[serde(borrow)]
    sequence: Option<CowStr<'a>>,
    xmin: Option<i64>,
}

impl<'a> Source<'a> {
    fn from_raw(raw: &'a RawValue) -> Result<Source<'a>, CdcError> {
        let w: SourceWire<'a> = serde_json::from_str(raw.get())
            .map_err(|e| CdcError::field("source", e.to_string()))?;
        let s = |v: Option<CowStr<'a>>| v.map(|c| c.0);
        Ok(Source {
            version: s(w.version),
            connector: s(w.connector),
            name: s(w.name),
            db: s(w.db),
            schema: s(w.schema),
            table: s(w.table),
            lsn: w.lsn,
            tx_id: w.tx_id,
            ts_ms: w.ts_ms,
            ts_us: w.ts_us,
            ts_ns: w.ts_ns,
            snapshot: w.snapshot,
            sequence: s(w.sequence),
            xmin: w.xmin,
        })
    }

    /// Sets one field from a flattened record's metadata member (`__lsn`, `__source_ts_ms`, …).
    /// Names this crate does not model are ignored.
    pub(crate) fn set_from_raw(
        &mut self,
        name: &str,
        raw: &'a RawValue,
        member: &str,
    ) -> Result<(), CdcError> {
        let text = |r| raw::opt_string(Some(r), member);
        let int = |r| raw::opt_i64(Some(r), member);
        match name {
            "version" => self.version = text(raw)?,
            "connector" => self.connector = text(raw)?,
            "name" => self.name = text(raw)?,
            "db" => self.db = text(raw)?,
            "schema" => self.schema = text(raw)?,
            "table" => self.table = text(raw)?,
            "sequence" => self.sequence = text(raw)?,
            "lsn" => self.lsn = int(raw)?,
            "txId" => self.tx_id = int(raw)?,
            "ts_ms" => self.ts_ms = int(raw)?,
            "ts_us" => self.ts_us = int(raw)?,
            "ts_ns" => self.ts_ns = int(raw)?,
            "xmin" => self.xmin = int(raw)?,
            "snapshot" => self.snapshot = Snapshot::from_raw(raw, member)?,
            _ => {}
        }
        Ok(())
    }

    /// The two LSNs of PostgreSQL's `sequence` (`[last commit LSN, this LSN]`), when present and
    /// well formed. Either element may be `null` in Debezium's output.
    pub fn sequence_lsns(&self) -> Option<(Option<i64>, Option<i64>)> {
        let text = self.sequence.as_deref()?;
        let items: Vec<Option<String>> = serde_json::from_str(text).ok()?;
        let parse = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
        match items.as_slice() {
            [a, b] => Some((parse(a), parse(b))),
            _ => None,
        }
    }

    fn into_owned(self) -> Source<'static> {
        let o = |v: Option<Cow<'a, str>>| v.map(|c| Cow::Owned(c.into_owned()));
        Source {
            version: o(self.version),
            connector: o(self.connector),
            name: o(self.name),
            db: o(self.db),
            schema: o(self.schema),
            table: o(self.table),
            lsn: self.lsn,
            tx_id: self.tx_id,
            ts_ms: self.ts_ms,
            ts_us: self.ts_us,
            ts_ns: self.ts_ns,
            snapshot: self.snapshot.map(Snapshot::into_owned),
            sequence: o(self.sequence),
            xmin: self.xmin,
        }
    }
}

/// The `transaction` block of a change event (when transaction metadata is enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionBlock<'a> {
    /// Transaction id, e.g. `571:53195829` (txId:LSN).
    pub id: Cow<'a, str>,
    /// Position of the event among all events of the transaction.
    pub total_order: Option<i64>,
    /// Position of the event among the transaction's events for this table.
    pub data_collection_order: Option<i64>,
}

#[derive(Deserialize)]
struct TransactionBlockWire<'a> {
    #[serde(borrow)]
    id: CowStr<'a>,
    total_order: Option<i64>,
    data_collection_order: Option<i64>,
}

impl TransactionMarker<'_> {
    /// Detaches the marker from the message bytes.
    pub fn into_owned(self) -> TransactionMarker<'static> {
        TransactionMarker {
            status: self.status,
            id: Cow::Owned(self.id.into_owned()),
            ts_ms: self.ts_ms,
            event_count: self.event_count,
            data_collections: self
                .data_collections
                .into_iter()
                .map(|d| DataCollectionCount {
                    data_collection: Cow::Owned(d.data_collection.into_owned()),
                    event_count: d.event_count,
                })
                .collect(),
        }
    }
}

impl Message<'_> {
    /// Detaches the message from its bytes.
    pub fn into_owned(self) -> Message<'static> {
        match self {
            Message::Change(e) => Message::Change(e.into_owned()),
            Message::Tombstone => Message::Tombstone,
            Message::Transaction(t) => Message::Transaction(t.into_owned()),
        }
    }
}

impl TransactionBlock<'_> {
    fn into_owned(self) -> TransactionBlock<'static> {
        TransactionBlock {
            id: Cow::Owned(self.id.into_owned()),
            total_order: self.total_order,
            data_collection_order: self.data_collection_order,
        }
    }
}

/// A change event: one row change, from the envelope or a flattened record.
#[derive(Debug, Clone)]
pub struct ChangeEvent<'a> {
    /// The operation. For a flattened record with `__deleted: "true"` this is [`Op::Delete`]; for
    /// one that carries only `__deleted: "false"` (no `__op`) it is [`Op::Update`], an upsert.
    pub op: Op,
    /// The row before the change, raw JSON object text (borrowed from the message when possible).
    /// Null for creates, for updates without `REPLICA IDENTITY FULL`, and for some deletes.
    pub before: Option<Cow<'a, RawValue>>,
    /// The row after the change, raw JSON object text. Null for deletes and truncates.
    pub after: Option<Cow<'a, RawValue>>,
    /// The `source` block (empty when the message has none).
    pub source: Source<'a>,
    /// When Debezium processed the event, epoch milliseconds (envelope `ts_ms`).
    pub ts_ms: Option<i64>,
    /// Same, microseconds (Debezium ≥ 2.6).
    pub ts_us: Option<i64>,
    /// Same, nanoseconds (Debezium ≥ 2.6).
    pub ts_ns: Option<i64>,
    /// The transaction block, when transaction metadata is enabled.
    pub transaction: Option<TransactionBlock<'a>>,
    /// The JSON converter's value schema, raw text, when the message had one.
    pub schema: Option<Cow<'a, RawValue>>,
    /// Envelope or flattened.
    pub format: Format,
}

impl<'a> ChangeEvent<'a> {
    /// The row this event is about: `before` for a delete, `after` otherwise.
    pub fn row(&self) -> Option<&RawValue> {
        match self.op {
            Op::Delete => self.before.as_deref(),
            _ => self.after.as_deref(),
        }
    }

    /// `before` as JSON text (what bronze stores).
    pub fn before_json(&self) -> Option<&str> {
        self.before.as_deref().map(RawValue::get)
    }

    /// `after` as JSON text (what bronze stores).
    pub fn after_json(&self) -> Option<&str> {
        self.after.as_deref().map(RawValue::get)
    }

    /// `before` parsed into a JSON map.
    pub fn before_map(&self) -> Result<Option<Map<String, Value>>, CdcError> {
        object_map(self.before.as_deref(), "before")
    }

    /// `after` parsed into a JSON map.
    pub fn after_map(&self) -> Result<Option<Map<String, Value>>, CdcError> {
        object_map(self.after.as_deref(), "after")
    }

    /// The value schema as JSON text, when the message had one.
    pub fn schema_json(&self) -> Option<&str> {
        self.schema.as_deref().map(RawValue::get)
    }

    /// The value schema, parsed.
    pub fn value_schema(&self) -> Result<Option<ConnectSchema>, CdcError> {
        self.schema_json().map(ConnectSchema::parse).transpose()
    }

    /// The typed columns of the row, from the value schema (`None` when schemaless). Works for
    /// the envelope (the `after`/`before` struct) and for flattened records (metadata fields
    /// such as `__op` left out).
    pub fn row_columns(&self) -> Result<Option<Vec<Column>>, CdcError> {
        self.value_schema()?.map(|s| s.row_columns()).transpose()
    }

    /// The merge order of this event, read from the Kafka coordinates it came from
    /// (see [`OrderingKey`]).
    pub fn ordering_key(&self, partition: i32, offset: i64) -> OrderingKey {
        OrderingKey::new(self.source.lsn, self.source.ts_ms, offset, partition)
    }

    /// Detaches the event from the message bytes.
    pub fn into_owned(self) -> ChangeEvent<'static> {
        let own = |v: Option<Cow<'a, RawValue>>| v.map(|c| Cow::Owned(c.into_owned()));
        ChangeEvent {
            op: self.op,
            before: own(self.before),
            after: own(self.after),
            source: self.source.into_owned(),
            ts_ms: self.ts_ms,
            ts_us: self.ts_us,
            ts_ns: self.ts_ns,
            transaction: self.transaction.map(TransactionBlock::into_owned),
            schema: own(self.schema),
            format: self.format,
        }
    }
}

fn object_map(raw: Option<&RawValue>, field: &str) -> Result<Option<Map<String, Value>>, CdcError> {
    raw.map(|r| serde_json::from_str(r.get()).map_err(|e| CdcError::field(field, e.to_string())))
        .transpose()
}

/// BEGIN or END of a source transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// The transaction started.
    Begin,
    /// The transaction committed; `event_count` and `data_collections` are set.
    End,
}

/// A record of the transaction metadata topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMarker<'a> {
    /// BEGIN or END.
    pub status: TransactionStatus,
    /// Transaction id, e.g. `571:53195829`.
    pub id: Cow<'a, str>,
    /// Epoch milliseconds.
    pub ts_ms: Option<i64>,
    /// Number of change events in the transaction (END only).
    pub event_count: Option<i64>,
    /// Events per table (END only).
    pub data_collections: Vec<DataCollectionCount<'a>>,
}

/// How many events of a transaction touched one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCollectionCount<'a> {
    /// `schema.table`.
    pub data_collection: Cow<'a, str>,
    /// Number of events.
    pub event_count: i64,
}

/// Parses a Kafka message value.
///
/// Accepts the envelope, a flattened record or a transaction marker, each with or without the
/// JSON converter's `{"schema", "payload"}` wrapper. An empty (or all-whitespace) value, `null`
/// and a wrapper whose payload is `null` are [`Message::Tombstone`]. Anything else — invalid JSON,
/// trailing data, a non-object, an object that is none of the three shapes, an unknown `op`, a
/// field of the wrong type — is a [`CdcError`] whose text says why.
///
/// `before` and `after` are kept as raw JSON text borrowed from `bytes`; nothing is built as a
/// `serde_json::Value` tree.
pub fn parse_value(bytes: &[u8]) -> Result<Message<'_>, CdcError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Message::Tombstone);
    }
    match raw::parse_top_slice(bytes)? {
        TopLevel::Null => Ok(Message::Tombstone),
        TopLevel::Other(kind) => Err(CdcError::NotAnEvent(format!(
            "expected a JSON object, found {kind}"
        ))),
        TopLevel::Object(obj) => match wrapper_parts(&obj) {
            Some((_, payload)) if raw::is_null(payload) => Ok(Message::Tombstone),
            Some((schema, payload)) => match raw::parse_top_raw(payload)? {
                TopLevel::Object(inner) => classify(inner, schema),
                // `wrapper_parts` only accepts an object or null payload.
                TopLevel::Null | TopLevel::Other(_) => Ok(Message::Tombstone),
            },
            None => classify(obj, None),
        },
    }
}

/// When `obj` is the JSON converter's wrapper, its (schema, payload). The wrapper has only
/// `schema` and `payload` members, and the payload is an object or null; anything else is read
/// as a bare message (so a row with a column named `payload` is not mistaken for a wrapper).
pub(crate) fn wrapper_parts<'a>(
    obj: &RawObject<'a>,
) -> Option<(Option<&'a RawValue>, &'a RawValue)> {
    let payload = obj.get("payload")?;
    let only_wrapper_keys = obj
        .members
        .iter()
        .all(|(k, _)| k == "schema" || k == "payload");
    let schema = obj.get("schema").filter(|s| !raw::is_null(s));
    let shapes_ok =
        (raw::is_object(payload) || raw::is_null(payload)) && schema.is_none_or(raw::is_object);
    (only_wrapper_keys && shapes_ok).then_some((schema, payload))
}

fn classify<'a>(obj: RawObject<'a>, schema: Option<&'a RawValue>) -> Result<Message<'a>, CdcError> {
    if obj.has("__op") || obj.has("__deleted") {
        return flatten::parse(&obj, schema).map(Message::Change);
    }
    if obj.has("op") {
        return parse_envelope(&obj, schema).map(Message::Change);
    }
    if obj.has("status") {
        return parse_marker(&obj).map(Message::Transaction);
    }
    Err(CdcError::NotAnEvent(format!(
        "no `op` (change event), `__op`/`__deleted` (flattened record) or `status` \
         (transaction marker) member; members: {}",
        obj.key_list(8)
    )))
}

fn parse_envelope<'a>(
    obj: &RawObject<'a>,
    schema: Option<&'a RawValue>,
) -> Result<ChangeEvent<'a>, CdcError> {
    let op_raw = obj
        .get("op")
        .ok_or_else(|| CdcError::field("op", "missing"))?;
    let op = Op::from_code(&raw::string(op_raw, "op")?)?;
    if !(obj.has("before") || obj.has("after") || obj.has("source")) {
        return Err(CdcError::NotAnEvent(format!(
            "has `op` but none of `before`, `after`, `source`; members: {}",
            obj.key_list(8)
        )));
    }
    let before = raw::opt_object(obj.get("before"), "before")?.map(Cow::Borrowed);
    let after = raw::opt_object(obj.get("after"), "after")?.map(Cow::Borrowed);
    if op.is_upsert() && after.is_none() {
        return Err(CdcError::field(
            "after",
            format!("op `{op}` needs the new row in `after`, found null or nothing"),
        ));
    }
    let source = match raw::opt_object(obj.get("source"), "source")? {
        Some(r) => Source::from_raw(r)?,
        None => Source::default(),
    };
    let transaction = raw::opt_object(obj.get("transaction"), "transaction")?
        .map(|r| {
            serde_json::from_str::<TransactionBlockWire<'a>>(r.get())
                .map(|w| TransactionBlock {
                    id: w.id.0,
                    total_order: w.total_order,
                    data_collection_order: w.data_collection_order,
                })
                .map_err(|e| CdcError::field("transaction", e.to_string()))
        })
        .transpose()?;
    Ok(ChangeEvent {
        op,
        before,
        after,
        source,
        ts_ms: raw::opt_i64(obj.get("ts_ms"), "ts_ms")?,
        ts_us: raw::opt_i64(obj.get("ts_us"), "ts_us")?,
        ts_ns: raw::opt_i64(obj.get("ts_ns"), "ts_ns")?,
        transaction,
        schema: schema.map(Cow::Borrowed),
        format: Format::Envelope,
    })
}

fn parse_marker<'a>(obj: &RawObject<'a>) -> Result<TransactionMarker<'a>, CdcError> {
    let status_raw = obj
        .get("status")
        .ok_or_else(|| CdcError::field("status", "missing"))?;
    let status = match raw::string(status_raw, "status")?.as_ref() {
        "BEGIN" => TransactionStatus::Begin,
        "END" => TransactionStatus::End,
        other => {
            return Err(CdcError::NotAnEvent(format!(
                "`status` is `{}`, not a transaction marker's BEGIN or END",
                raw::short(other)
            )));
        }
    };
    let id = raw::opt_string(obj.get("id"), "id")?
        .ok_or_else(|| CdcError::field("id", "a transaction marker needs an `id`"))?;
    let data_collections = match obj.get("data_collections") {
        None => Vec::new(),
        Some(r) if raw::is_null(r) => Vec::new(),
        Some(r) => serde_json::from_str::<Vec<DataCollectionWire<'a>>>(r.get())
            .map_err(|e| CdcError::field("data_collections", e.to_string()))?
            .into_iter()
            .map(|w| DataCollectionCount {
                data_collection: w.data_collection.0,
                event_count: w.event_count,
            })
            .collect(),
    };
    Ok(TransactionMarker {
        status,
        id,
        ts_ms: raw::opt_i64(obj.get("ts_ms"), "ts_ms")?,
        event_count: raw::opt_i64(obj.get("event_count"), "event_count")?,
        data_collections,
    })
}

#[derive(Deserialize)]
struct DataCollectionWire<'a> {
    #[serde(borrow)]
    data_collection: CowStr<'a>,
    event_count: i64,
}
