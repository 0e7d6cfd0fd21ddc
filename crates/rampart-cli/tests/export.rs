//! `rampart export` on a data directory seeded through the store, with the writer still holding
//! it: exact CSV contents (quoting included), time filtering at its boundaries, the refusals.

use std::collections::BTreeMap;
use std::path::Path;

use rampart_core::interleave::{Impression, Item, Method};
use rampart_core::{
    Decision, EntityKind, Exposure, ImpressionRecord, OutcomeEvent, Reason, Record,
};
use rampart_store::{SqliteStore, Store};

use crate::support::run;

/// 2023-11-14T22:13:20.000Z
const T0: i64 = 1_700_000_000_000;

fn seed(dir: &Path) -> (SqliteStore, ImpressionRecord) {
    let store = SqliteStore::open(dir).unwrap();
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
    (store, impression)
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
fn refuses_parquet_bad_times_and_missing_stores() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    let stderr = |o: std::process::Output| {
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };

    let e = stderr(export(&data, &out, &["--format", "parquet"]));
    assert!(e.contains("Parquet export is planned"), "{e}");
    let e = stderr(export(&data, &out, &["--from", "last tuesday"]));
    assert!(e.contains("--from \"last tuesday\" is neither"), "{e}");
    let e = stderr(export(&data, &out, &["--from", "20", "--to", "20"]));
    assert!(e.contains("must be before --to"), "{e}");
    let e = stderr(export(&data, &out, &[]));
    assert!(e.contains("no rampart store in"), "{e}");
    // Nothing was written by any refused export.
    assert!(!out.exists());
}
