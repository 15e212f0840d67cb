//! # flowctl-cdc
//!
//! The pure core of flowctl's Debezium pipelines: everything about a change event that needs no
//! Kafka and no Iceberg.
//!
//! * [`parse_value`] reads a Kafka message value into a [`Message`]: a [`ChangeEvent`] (envelope
//!   or flattened record, with or without the JSON converter's schema), a tombstone, or a
//!   transaction marker. Bad input is a [`CdcError`] whose text is the dead-letter reason.
//! * [`parse_key`] reads a Kafka key into its key columns.
//! * [`ConnectSchema`], [`ColumnType`] and [`decode`] turn JSON values into [`TypedValue`]s,
//!   decimals exactly ([`Decimal`]).
//! * [`is_unavailable`] spots the TOAST placeholder; [`OrderingKey`] orders changes for the merge;
//!   [`pseudonymize`] is the privacy hash.
//!
//! ```
//! use flowctl_cdc::{parse_value, Message, Op};
//!
//! let bytes = br#"{"before":null,"after":{"id":1},"source":{"lsn":42,"ts_ms":7},"op":"c","ts_ms":8}"#;
//! let Message::Change(event) = parse_value(bytes)? else { panic!("not a change") };
//! assert_eq!(event.op, Op::Create);
//! assert_eq!(event.after_json(), Some(r#"{"id":1}"#));
//! assert_eq!(event.source.lsn, Some(42));
//! # Ok::<(), flowctl_cdc::CdcError>(())
//! ```

#![warn(missing_docs)]

mod decimal;
mod decode;
mod envelope;
mod error;
mod flatten;
mod key;
mod ordering;
mod privacy;
mod raw;
mod schema;
mod toast;

pub use decimal::{Decimal, MAX_PRECISION};
pub use decode::{TypedValue, decode, decode_row, decode_with};
pub use envelope::{
    ChangeEvent, DataCollectionCount, Format, Message, Op, Snapshot, Source, TransactionBlock,
    TransactionMarker, TransactionStatus, parse_value,
};
pub use error::CdcError;
pub use flatten::is_metadata_field;
pub use key::parse_key;
pub use ordering::OrderingKey;
pub use privacy::{Salt, pseudonymize};
pub use schema::{Column, ColumnType, ConnectSchema, Encoding};
pub use toast::{UNAVAILABLE_VALUE_PLACEHOLDER, is_unavailable, is_unavailable_for};
