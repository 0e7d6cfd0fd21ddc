//! `rampart export` on a data directory seeded through the store, with the writer still holding
//! it: exact CSV contents (quoting included), Parquet files read back with the `parquet` crate
//! (schema and every value) and by DuckDB when it is installed, time filtering at its
//! boundaries, empty ranges, a failed export leaving no file, the refusals; and the same
//! records exported from PostgreSQL giving the same files.

use std::collections::BTreeMap;
use std::path::Path;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rampart_core::interleave::{Impression, Item, Method};
use rampart_core::{
    Decision, EntityKind, Exposure, ImpressionRecord, OutcomeEvent, Reason, Record,
};
use rampart_store::testing::TestSchema;
use rampart_store::{PostgresStore, SqliteStore, Store};

use crate::support::{has_python_duckdb, peer, run};

/// 2023-11-14T22:13:20.000Z
const T0: i64 = 1_700_000_000_000;

fn seed(dir: &Path) -> (SqliteStore, ImpressionRecord) {
    let store = SqliteStore::open(dir).unwrap();
    let impression = seed_into(&store);
    (store, impression)
}

/// Stores the test's records and decision into `store`; returns the impression stored.
fn seed_into(store: &dyn Store) -> ImpressionRecord {
    let segments: BTreeMap<String, String> = [("country".to_owned(), "fr".to_owned())].into();
    let attributes: BTreeMap<String, String> = [
        ("note".to_owned(), "a, \"b\"\nc".to_owned()),
        ("page".to_owned(), "home".to_owned()),
    ]
    .into();
    let impression = ImpressionRecord {
        ts: T0 + 2_000,
        model: "search".to_owned(),
        experiment: "ranker-test".to_owned(),
        unit: "u,3".to_owned(),
        impression_id: "imp-1".to_owned(),
        impression: Impression {
            method: Method::TeamDraft,
            rankings: vec![vec!["a".into(), "b".into()], vec!["b".into(), "a".into()]],
            items: vec![
                Item {
                    id: "a".into(),
                    team: Some(0),
                },
                Item {
                    id: "b".into(),
                    team: Some(1),
                },
            ],
        },
        variants: vec!["v1".into(), "v2".into()],
    };
    store
        .append(&[
            Record::Exposure(Exposure {
                ts: T0,
                model: "checkout-recs".to_owned(),
                unit: "user \"1\", eu".to_owned(),
                variant: "v2".to_owned(),
                reason: Reason::Candidate,
                entity: Some((EntityKind::Rollout, "recs-v2".to_owned())),
                assignment_id: u64::MAX,
                segments,
            }),
            Record::Event(OutcomeEvent {
                id: "ev\n1".to_owned(),
                kind: "purchase".to_owned(),
                unit: "user \"1\", eu".to_owned(),
                model: "checkout-recs".to_owned(),
                value: Some(12.5),
                ts: T0 + 1_000,
                attributes,
            }),
            Record::Impression(impression.clone()),
            Record::Event(OutcomeEvent {
                id: "ev2".to_owned(),
                kind: "click".to_owned(),
                unit: "u2".to_owned(),
                model: "checkout-recs".to_owned(),
                value: None,
                ts: T0 + 3_000,
                attributes: BTreeMap::new(),
            }),
        ])
        .unwrap();
    store
        .append_decision(&Decision {
            id: 0,
            ts: T0 + 2_500,
            entity_kind: EntityKind::Rollout,
            entity: "recs-v2".to_owned(),
            action: "advance".to_owned(),
            from_state: "stage 1".to_owned(),
            to_state: "stage 2".to_owned(),
            reason: "gate passed, all checks".to_owned(),
            actor: "controller".to_owned(),
            evidence: serde_json::json!({"p_value": 0.01}),
        })
        .unwrap();
    impression
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn export(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn exports_every_file_exactly_while_the_server_holds_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    // The writer stays open: the export must not need its lock.
    let (_store, impression) = seed(&data);
    let output = export(&data, &out, &["--json"]);
    assert!(output.status.success(), "{output:?}");
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            &counts["exposures"],
            &counts["events"],
            &counts["impressions"],
            &counts["decisions"]
        ),
        (&1.into(), &2.into(), &1.into(), &1.into())
    );

    assert_eq!(
        read(&out, "exposures.csv"),
        "seq,ts_ms,ts,model,unit,variant,reason,entity_kind,entity,assignment_id,segments\r\n\
         1,1700000000000,2023-11-14T22:13:20.000Z,checkout-recs,\"user \"\"1\"\", eu\",v2,\
         candidate,rollout,recs-v2,18446744073709551615,\"{\"\"country\"\":\"\"fr\"\"}\"\r\n"
    );
    assert_eq!(
        read(&out, "events.csv"),
        "seq,ts_ms,ts,id,type,unit,model,value,attributes\r\n\
         2,1700000001000,2023-11-14T22:13:21.000Z,\"ev\n1\",purchase,\"user \"\"1\"\", eu\",\
         checkout-recs,12.5,\"{\"\"note\"\":\"\"a, \\\"\"b\\\"\"\\nc\"\",\"\"page\"\":\"\"home\"\"}\"\r\n\
         4,1700000003000,2023-11-14T22:13:23.000Z,ev2,click,u2,checkout-recs,,{}\r\n"
    );
    assert_eq!(
        read(&out, "decisions.csv"),
        "id,ts_ms,ts,entity_kind,entity,action,from_state,to_state,reason,actor,evidence\r\n\
         1,1700000002500,2023-11-14T22:13:22.500Z,rollout,recs-v2,advance,stage 1,stage 2,\
         \"gate passed, all checks\",controller,\"{\"\"p_value\"\":0.01}\"\r\n"
    );
    // The impression's JSON column reads back into the impression that was stored.
    let impressions = read(&out, "impressions.csv");
    let (header, row) = impressions.split_once("\r\n").unwrap();
    assert_eq!(
        header,
        "seq,ts_ms,ts,model,experiment,unit,impression_id,variants,impression"
    );
    let prefix = "3,1700000002000,2023-11-14T22:13:22.000Z,search,ranker-test,\"u,3\",imp-1,\
                  \"[\"\"v1\"\",\"\"v2\"\"]\",\"";
    let json = row
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix("\"\r\n"))
        .unwrap_or_else(|| panic!("unexpected row {row:?}"));
    let stored: Impression = serde_json::from_str(&json.replace("\"\"", "\"")).unwrap();
    assert_eq!(stored, impression.impression);
    // Only the four files are left: the partial files were renamed into place.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "decisions.csv",
            "events.csv",
            "exposures.csv",
            "impressions.csv"
        ]
    );
}

#[test]
fn filters_on_each_record_ts_from_inclusive_to_exclusive() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    drop(seed(&data));
    // [T0 + 1s, T0 + 3s): the first event, the impression and the decision; not the exposure at
    // T0 nor the event at exactly T0 + 3s. The two forms of time mix.
    let output = export(
        &data,
        &out,
        &["--from", "2023-11-14T22:13:21Z", "--to", "1700000003000"],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<(String, String)> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            Some((cols.next()?.to_owned(), cols.next()?.to_owned()))
        })
        .collect();
    let file = |name: &str| out.join(name).display().to_string();
    assert_eq!(
        rows,
        [
            (file("exposures.csv"), "0".to_owned()),
            (file("events.csv"), "1".to_owned()),
            (file("impressions.csv"), "1".to_owned()),
            (file("decisions.csv"), "1".to_owned()),
        ]
    );
    assert_eq!(
        read(&out, "exposures.csv"),
        "seq,ts_ms,ts,model,unit,variant,reason,entity_kind,entity,assignment_id,segments\r\n"
    );
    let events = read(&out, "events.csv");
    assert!(events.contains("\r\n2,1700000001000,"), "{events}");
    assert!(!events.contains("ev2"), "{events}");

    // One millisecond later at the start drops the first event; a --to one past includes ev2.
    let output = export(
        &data,
        &out,
        &["--from", "1700000001001", "--to", "1700000003001", "--json"],
    );
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(counts["events"], 1);
    assert!(read(&out, "events.csv").contains("\r\n4,1700000003000,"));
}

#[test]
fn refuses_bad_formats_bad_times_and_missing_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    let stderr = |o: std::process::Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };

    let e = stderr(export(&data, &out, &["--format", "xlsx"]));
    assert!(e.contains("[possible values: csv, parquet]"), "{e}");
    let e = stderr(export(&data, &out, &["--from", "last tuesday"]));
    assert!(e.contains("--from \"last tuesday\" is neither"), "{e}");
    let e = stderr(export(&data, &out, &["--from", "20", "--to", "20"]));
    assert!(e.contains("must be before --to"), "{e}");
    let e = stderr(export(&data, &out, &[]));
    assert!(e.contains("no rampart store in"), "{e}");
    // Nothing was written by any refused export.
    assert!(!out.exists());
}

/// A Parquet file's columns (name, physical type, logical type, repetition) and rows.
type Schema = Vec<(String, Physical, Option<LogicalType>, Repetition)>;

fn parquet(dir: &Path, name: &str) -> (Schema, Vec<Vec<Field>>) {
    let file = std::fs::File::open(dir.join(name)).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let schema = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_owned(),
                c.physical_type(),
                c.logical_type_ref().cloned(),
                c.self_type().get_basic_info().repetition(),
            )
        })
        .collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_column_iter()
                .map(|(_, f)| f.clone())
                .collect()
        })
        .collect();
    (schema, rows)
}

fn schema_of(columns: &[(&str, &str)]) -> Schema {
    columns
        .iter()
        .map(|&(name, kind)| {
            let (physical, logical, repetition) = match kind {
                "int" => (Physical::INT64, None, Repetition::REQUIRED),
                "uint" => (
                    Physical::INT64,
                    Some(LogicalType::integer(64, false)),
                    Repetition::REQUIRED,
                ),
                "time" => (
                    Physical::INT64,
                    Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
                    Repetition::REQUIRED,
                ),
                "text" => (
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::REQUIRED,
                ),
                "text?" => (
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::OPTIONAL,
                ),
                "double?" => (Physical::DOUBLE, None, Repetition::OPTIONAL),
                other => panic!("unknown kind {other}"),
            };
            (name.to_owned(), physical, logical, repetition)
        })
        .collect()
}

fn exposures_schema() -> Schema {
    schema_of(&[
        ("seq", "int"),
        ("ts", "time"),
        ("model", "text"),
        ("unit", "text"),
        ("variant", "text"),
        ("reason", "text"),
        ("entity_kind", "text?"),
        ("entity", "text?"),
        ("assignment_id", "uint"),
        ("segments", "text"),
    ])
}

fn events_schema() -> Schema {
    schema_of(&[
        ("seq", "int"),
        ("ts", "time"),
        ("id", "text"),
        ("type", "text"),
        ("unit", "text"),
        ("model", "text"),
        ("value", "double?"),
        ("attributes", "text"),
    ])
}

fn impressions_schema() -> Schema {
    schema_of(&[
        ("seq", "int"),
        ("ts", "time"),
        ("model", "text"),
        ("experiment", "text"),
        ("unit", "text"),
        ("impression_id", "text"),
        ("variants", "text"),
        ("impression", "text"),
    ])
}

fn decisions_schema() -> Schema {
    schema_of(&[
        ("id", "int"),
        ("ts", "time"),
        ("entity_kind", "text"),
        ("entity", "text"),
        ("action", "text"),
        ("from_state", "text"),
        ("to_state", "text"),
        ("reason", "text"),
        ("actor", "text"),
        ("evidence", "text"),
    ])
}

fn text(s: &str) -> Field {
    Field::Str(s.to_owned())
}

/// The seeded store plus an exposure decided by nobody (no entity), at T0 + 4s.
fn seed_with_default_exposure(dir: &Path) -> (SqliteStore, ImpressionRecord) {
    let (store, impression) = seed(dir);
    store
        .append(&[Record::Exposure(Exposure {
            ts: T0 + 4_000,
            model: "checkout-recs".to_owned(),
            unit: "u9".to_owned(),
            variant: "v1".to_owned(),
            reason: Reason::Default,
            entity: None,
            assignment_id: 7,
            segments: BTreeMap::new(),
        })])
        .unwrap();
    (store, impression)
}

#[test]
fn parquet_files_have_typed_columns_and_every_value() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    let (_store, impression) = seed_with_default_exposure(&data);
    let output = export(&data, &out, &["--format", "parquet", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(counts["format"], "parquet");
    assert_eq!(
        [
            &counts["exposures"],
            &counts["events"],
            &counts["impressions"],
            &counts["decisions"]
        ],
        [2, 2, 1, 1]
    );

    let (schema, rows) = parquet(&out, "exposures.parquet");
    assert_eq!(schema, exposures_schema());
    assert_eq!(
        rows,
        [
            vec![
                Field::Long(1),
                Field::TimestampMillis(T0),
                text("checkout-recs"),
                text("user \"1\", eu"),
                text("v2"),
                text("candidate"),
                text("rollout"),
                text("recs-v2"),
                Field::ULong(u64::MAX),
                text(r#"{"country":"fr"}"#),
            ],
            vec![
                Field::Long(5),
                Field::TimestampMillis(T0 + 4_000),
                text("checkout-recs"),
                text("u9"),
                text("v1"),
                text("default"),
                Field::Null,
                Field::Null,
                Field::ULong(7),
                text("{}"),
            ],
        ]
    );

    let (schema, rows) = parquet(&out, "events.parquet");
    assert_eq!(schema, events_schema());
    assert_eq!(
        rows,
        [
            vec![
                Field::Long(2),
                Field::TimestampMillis(T0 + 1_000),
                text("ev\n1"),
                text("purchase"),
                text("user \"1\", eu"),
                text("checkout-recs"),
                Field::Double(12.5),
                text(r#"{"note":"a, \"b\"\nc","page":"home"}"#),
            ],
            vec![
                Field::Long(4),
                Field::TimestampMillis(T0 + 3_000),
                text("ev2"),
                text("click"),
                text("u2"),
                text("checkout-recs"),
                Field::Null,
                text("{}"),
            ],
        ]
    );

    let (schema, rows) = parquet(&out, "impressions.parquet");
    assert_eq!(schema, impressions_schema());
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..7],
        [
            Field::Long(3),
            Field::TimestampMillis(T0 + 2_000),
            text("search"),
            text("ranker-test"),
            text("u,3"),
            text("imp-1"),
            text(r#"["v1","v2"]"#),
        ]
    );
    let Field::Str(json) = &rows[0][7] else {
        panic!("impression is {:?}", rows[0][7]);
    };
    let stored: Impression = serde_json::from_str(json).unwrap();
    assert_eq!(stored, impression.impression);

    let (schema, rows) = parquet(&out, "decisions.parquet");
    assert_eq!(schema, decisions_schema());
    assert_eq!(
        rows,
        [vec![
            Field::Long(1),
            Field::TimestampMillis(T0 + 2_500),
            text("rollout"),
            text("recs-v2"),
            text("advance"),
            text("stage 1"),
            text("stage 2"),
            text("gate passed, all checks"),
            text("controller"),
            text(r#"{"p_value":0.01}"#),
        ]]
    );

    // Snappy-compressed, and nothing but the four files is left.
    let file = std::fs::File::open(out.join("events.parquet")).unwrap();
    let meta = SerializedFileReader::new(file).unwrap().metadata().clone();
    assert!(meta
        .row_group(0)
        .columns()
        .iter()
        .all(|c| c.compression() == Compression::SNAPPY));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "decisions.parquet",
            "events.parquet",
            "exposures.parquet",
            "impressions.parquet"
        ]
    );
}

fn seqs(rows: &[Vec<Field>]) -> Vec<Field> {
    rows.iter().map(|r| r[0].clone()).collect()
}

#[test]
fn parquet_filters_by_time_and_an_empty_range_gives_valid_empty_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    drop(seed_with_default_exposure(&data));

    // [T0 + 1s, T0 + 3s): the first event, the impression and the decision.
    let output = export(
        &data,
        &out,
        &[
            "--format",
            "parquet",
            "--from",
            "2023-11-14T22:13:21Z",
            "--to",
            "1700000003000",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let events_line: Vec<&str> = stdout
        .lines()
        .find(|l| l.contains("events.parquet"))
        .unwrap_or_else(|| panic!("{stdout}"))
        .split_whitespace()
        .collect();
    let file = out.join("events.parquet").display().to_string();
    assert_eq!(events_line, [file.as_str(), "1"]);
    assert_eq!(seqs(&parquet(&out, "exposures.parquet").1), []);
    assert_eq!(seqs(&parquet(&out, "events.parquet").1), [Field::Long(2)]);
    assert_eq!(
        seqs(&parquet(&out, "impressions.parquet").1),
        [Field::Long(3)]
    );
    assert_eq!(
        seqs(&parquet(&out, "decisions.parquet").1),
        [Field::Long(1)]
    );

    // From T0 + 3s on: the second event and the default exposure, at their exact times.
    let output = export(
        &data,
        &out,
        &["--format", "parquet", "--from", "1700000003000"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        seqs(&parquet(&out, "exposures.parquet").1),
        [Field::Long(5)]
    );
    assert_eq!(seqs(&parquet(&out, "events.parquet").1), [Field::Long(4)]);
    assert_eq!(seqs(&parquet(&out, "impressions.parquet").1), []);

    // A range after every record: four valid files with their schemas and no rows.
    let output = export(
        &data,
        &out,
        &[
            "--format",
            "parquet",
            "--from",
            "2030-01-01T00:00:00Z",
            "--json",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, schema) in [
        ("exposures", exposures_schema()),
        ("events", events_schema()),
        ("impressions", impressions_schema()),
        ("decisions", decisions_schema()),
    ] {
        assert_eq!(counts[name], 0, "{name}");
        let file = format!("{name}.parquet");
        let bytes = std::fs::read(out.join(&file)).unwrap();
        assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
        let (got, rows) = parquet(&out, &file);
        assert_eq!(got, schema, "{name}");
        assert!(rows.is_empty(), "{name}");
    }
}

#[test]
fn a_failed_parquet_export_leaves_no_new_file_and_keeps_the_previous_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    let (store, _) = seed(&data);

    // The third file cannot be created, after the first two were written in full.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir_all(fresh.join("impressions.parquet.partial")).unwrap();
    let output = export(&data, &fresh, &["--format", "parquet"]);
    assert!(!output.status.success());
    let e = String::from_utf8_lossy(&output.stderr);
    assert!(e.contains("impressions.parquet.partial"), "{e}");
    let names: Vec<String> = std::fs::read_dir(&fresh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["impressions.parquet.partial"]);

    // Over a complete earlier export: the failure leaves those files as they were.
    let output = export(&data, &out, &["--format", "parquet"]);
    assert!(output.status.success(), "{output:?}");
    let before: Vec<Vec<u8>> = ["exposures", "events", "impressions", "decisions"]
        .iter()
        .map(|n| std::fs::read(out.join(format!("{n}.parquet"))).unwrap())
        .collect();
    store
        .append(&[Record::Event(OutcomeEvent {
            id: "ev3".to_owned(),
            kind: "click".to_owned(),
            unit: "u3".to_owned(),
            model: "checkout-recs".to_owned(),
            value: None,
            ts: T0 + 5_000,
            attributes: BTreeMap::new(),
        })])
        .unwrap();
    std::fs::create_dir(out.join("impressions.parquet.partial")).unwrap();
    let output = export(&data, &out, &["--format", "parquet"]);
    assert!(!output.status.success());
    let after: Vec<Vec<u8>> = ["exposures", "events", "impressions", "decisions"]
        .iter()
        .map(|n| std::fs::read(out.join(format!("{n}.parquet"))).unwrap())
        .collect();
    assert!(before == after, "a failed export changed the earlier files");
    assert!(!out.join("events.parquet.partial").exists());
    assert!(!out.join("exposures.parquet.partial").exists());
    assert_eq!(parquet(&out, "events.parquet").1.len(), 2);
}

#[test]
fn duckdb_reads_the_parquet_files_with_their_types() {
    if !peer("python3 with duckdb", has_python_duckdb()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    drop(seed_with_default_exposure(&data));
    let output = export(&data, &out, &["--format", "parquet"]);
    assert!(output.status.success(), "{output:?}");
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
out = sys.argv[1]
def q(sql):
    return [list(r) for r in con.execute(sql.replace("DIR", out)).fetchall()]
print(json.dumps({
    "exposures": q("SELECT seq, typeof(ts), epoch_ms(ts), typeof(assignment_id), assignment_id::VARCHAR, entity FROM 'DIR/exposures.parquet' ORDER BY seq"),
    "events": q("SELECT seq, typeof(value), value, json_extract_string(attributes, '$.page') FROM 'DIR/events.parquet' ORDER BY seq"),
    "decisions": q("SELECT id, json_extract(evidence, '$.p_value')::DOUBLE FROM 'DIR/decisions.parquet'"),
}))
"#;
    let result = std::process::Command::new("python3")
        .args(["-c", script, out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(result.status.success(), "{result:?}");
    let got: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!({
            "exposures": [
                [1, "TIMESTAMP WITH TIME ZONE", T0, "UBIGINT", "18446744073709551615", "recs-v2"],
                [5, "TIMESTAMP WITH TIME ZONE", T0 + 4_000, "UBIGINT", "7", null],
            ],
            "events": [
                [2, "DOUBLE", 12.5, "home"],
                [4, "DOUBLE", null, null],
            ],
            "decisions": [[1, 0.01]],
        })
    );
}

/// The same records stored in PostgreSQL export to the same files as from a data directory,
/// filtered alike, while the writer holds the store; a schema without a store is refused and
/// left as it was.
#[test]
fn the_postgres_store_exports_the_same_files() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_sqlite, _) = seed(&data);
    let url = schema.url();
    let writer = PostgresStore::open(&url).unwrap();
    seed_into(&writer);
    let export_pg = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "export",
            "--store-url",
            url.as_str(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    for extra in [
        &[][..],
        &["--from", "1700000001000", "--to", "2023-11-14T22:13:23Z"][..],
    ] {
        let (from_pg, from_dir) = (dir.path().join("pg"), dir.path().join("dir"));
        let out = export_pg(&from_pg, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = export(&data, &from_dir, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in [
            "exposures.csv",
            "events.csv",
            "impressions.csv",
            "decisions.csv",
        ] {
            assert_eq!(
                read(&from_pg, name),
                read(&from_dir, name),
                "{name} {extra:?}"
            );
        }
        let out = export_pg(&from_pg, &[extra, &["--format", "parquet"][..]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = export(
            &data,
            &from_dir,
            &[extra, &["--format", "parquet"][..]].concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in [
            "exposures.parquet",
            "events.parquet",
            "impressions.parquet",
            "decisions.parquet",
        ] {
            let (pg_schema, pg_rows) = parquet(&from_pg, name);
            let (dir_schema, dir_rows) = parquet(&from_dir, name);
            assert_eq!(pg_schema, dir_schema, "{name}");
            assert_eq!(pg_rows, dir_rows, "{name} {extra:?}");
        }
        std::fs::remove_dir_all(&from_pg).unwrap();
        std::fs::remove_dir_all(&from_dir).unwrap();
    }
    // The filtered export holds the event at T0 + 1 s and the decision, not the exposure at T0.
    let out = export_pg(&dir.path().join("f"), &["--from", "1700000001000"]);
    assert!(out.status.success());
    assert_eq!(
        read(&dir.path().join("f"), "exposures.csv").lines().count(),
        1
    );
    drop(writer);

    let Some(empty) = TestSchema::create() else {
        return;
    };
    let out = run(&[
        "export",
        "--store-url",
        &empty.url(),
        "--out",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no rampart store in")
            && stderr.contains("schema_migrations does not exist"),
        "{stderr}"
    );
    assert_eq!(
        empty
            .query("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            .unwrap(),
        vec![Some("0".to_owned())],
        "an export creates nothing"
    );
}
