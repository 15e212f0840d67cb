//! Every published Debezium message in the team's shared folder (../shared/fixtures/debezium,
//! outside this repository) must parse to the right kind and op, or fail with a clear error for
//! the documentation excerpts that are not strict JSON. A clone without that folder skips.

use std::path::{Path, PathBuf};

use flowctl_cdc::{
    ColumnType, Format, Message, Op, Snapshot, TypedValue, decode, parse_key, parse_value,
};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/debezium"
);

/// What a file must parse to.
enum Expect {
    /// A change event with this op and format, and whether it has a value schema.
    Change(Op, Format, bool),
    /// A Kafka key with a `payload` wrapper or bare.
    Key,
    /// Not strict JSON: an error mentioning this text.
    InvalidJson(&'static str),
}

fn expectation(file: &str) -> Option<Expect> {
    use Expect::*;
    use Format::{Envelope as E, Flattened as F};
    let prefix = file.split('_').next()?;
    Some(match (prefix, file.contains("_key")) {
        ("01", _) => Change(Op::Read, E, true),
        ("02", _) => Change(Op::Read, E, false),
        ("03", _) => Change(Op::Create, E, false),
        ("04", _) | ("05", _) => Change(Op::Update, E, false),
        ("06", _) | ("07", _) => Change(Op::Delete, E, false),
        ("08", _) => Change(Op::Update, E, false),
        ("09", _) => Change(Op::Delete, E, false),
        ("10", true) if file.ends_with("_key.json") => Key,
        ("10", _) => Change(Op::Create, E, true),
        ("11", _) => Change(Op::Create, E, true),
        ("12", _) => Change(Op::Update, E, false),
        ("13", _) => Change(Op::Read, F, true),
        ("14", _) => Change(Op::Create, F, true),
        ("15", _) => Key,
        ("16", _) => InvalidJson("trailing comma"),
        ("17", _) => Change(Op::Create, E, true),
        ("18", _) => InvalidJson("trailing characters"),
        ("19", _) => InvalidJson("trailing characters"),
        _ => return None,
    })
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable fixtures directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shared_debezium_fixture() {
    let dir = Path::new(DIR);
    if !dir.is_dir() {
        println!("skipping: ../shared/fixtures/debezium not present");
        return;
    }
    let files = files(dir);
    assert!(
        files.len() >= 20,
        "expected the 20 published messages, found {}",
        files.len()
    );
    let mut checked = 0;
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let bytes = std::fs::read(path).expect("readable fixture");
        let Some(expect) = expectation(name) else {
            // A file added later: it must at least not panic.
            let _ = parse_value(&bytes);
            continue;
        };
        match expect {
            Expect::Change(op, format, has_schema) => {
                let Ok(Message::Change(e)) = parse_value(&bytes) else {
                    panic!("{name}: {:?}", parse_value(&bytes));
                };
                assert_eq!(e.op, op, "{name}");
                assert_eq!(e.format, format, "{name}");
                assert_eq!(e.schema.is_some(), has_schema, "{name}");
                assert!(e.row().is_some() || op == Op::Delete, "{name}: no row");
                assert!(e.source.ts_ms.is_some(), "{name}: source.ts_ms");
                if has_schema {
                    let columns = e
                        .row_columns()
                        .unwrap_or_else(|err| panic!("{name}: {err}"));
                    assert!(columns.is_some_and(|c| !c.is_empty()), "{name}: columns");
                }
            }
            Expect::Key => {
                let key = parse_key(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert!(key.is_some_and(|k| k.contains_key("id")), "{name}");
            }
            Expect::InvalidJson(why) => {
                let err = parse_value(&bytes).expect_err(name).to_string();
                assert!(
                    err.starts_with("invalid JSON:") && err.contains(why),
                    "{name}: {err}"
                );
                assert!(parse_key(&bytes).is_err(), "{name}: as a key");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 20, "every known fixture was checked");
}

#[test]
fn shared_fixture_details() {
    let dir = Path::new(DIR);
    if !dir.is_dir() {
        println!("skipping: ../shared/fixtures/debezium not present");
        return;
    }
    let read = |n: &str| std::fs::read(dir.join(n)).expect("fixture");

    // 08: NUMERIC(10,2) "C+o=" is 30.50.
    let bytes = read("08_update_decimal_base64_default_identity_v2.6.json");
    let Ok(Message::Change(e)) = parse_value(&bytes) else {
        panic!("08")
    };
    let price = &e.after_map().unwrap().unwrap()["price"];
    let TypedValue::Decimal(d) = decode(&"decimal(10,2)".parse().unwrap(), price).unwrap() else {
        panic!("decimal")
    };
    assert_eq!(d.to_string(), "30.50");
    assert_eq!(
        e.source.sequence_lsns(),
        Some((Some(25_685_616), Some(25_685_672)))
    );
    assert_eq!(e.ts_ns, Some(1_719_649_856_839_757_000));

    // 10: Uuid and ZonedTimestamp from the schema.
    let bytes = read("10_key_and_create_with_schema_uuid_zonedts_v3.0_value.json");
    let Ok(Message::Change(e)) = parse_value(&bytes) else {
        panic!("10")
    };
    let columns = e.row_columns().unwrap().unwrap();
    let created = columns.iter().find(|c| c.name == "created").unwrap();
    assert_eq!(created.ty, ColumnType::TimestampTz);
    assert_eq!(
        created
            .decode(&e.after_map().unwrap().unwrap()["created"])
            .unwrap(),
        TypedValue::TimestampTz(1_740_218_268_517_360)
    );

    // 13: flattened, Date from the schema, metadata into `source`.
    let bytes = read("13_unwrapped_with_schema_pg_deleted_false.json");
    let Ok(Message::Change(e)) = parse_value(&bytes) else {
        panic!("13")
    };
    assert_eq!(
        (e.source.lsn, e.source.table.as_deref()),
        (Some(33_832_960), Some("orders"))
    );
    let columns = e.row_columns().unwrap().unwrap();
    assert_eq!(columns.len(), 5);
    assert_eq!(columns[1].ty, ColumnType::Date);

    // 17: the documentation's boolean `snapshot`.
    let bytes = read("17_doc_create_with_schema_full_envelope.json");
    let Ok(Message::Change(e)) = parse_value(&bytes) else {
        panic!("17")
    };
    assert_eq!(e.source.snapshot, Some(Snapshot::True));
}
