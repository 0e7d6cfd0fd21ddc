//! The store's behaviour, written once as scenarios over `&dyn Store` and run against every
//! implementation (SQLite on disk and in memory here), plus the SQLite-specific cases that reopen
//! a data directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_core::interleave::{Impression, Item, Method};
use rampart_core::{
    Decision, EntityKind, EntityRecord, Exposure, ImpressionRecord, OutcomeEvent, Reason, Record,
};
use rampart_store::{Lease, SqliteStore, Step, Store, StoreError};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Record builders

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn event(id: &str, value: Option<f64>) -> Record {
    Record::Event(OutcomeEvent {
        id: id.to_owned(),
        kind: "purchase".to_owned(),
        unit: format!("unit-of-{id}"),
        model: "checkout-recs".to_owned(),
        value,
        ts: 1_700_000_000_000,
        attributes: attrs(&[("country", "fr")]),
    })
}

fn exposure(unit: &str, variant: &str) -> Record {
    Record::Exposure(Exposure {
        ts: 1_700_000_000_001,
        model: "checkout-recs".to_owned(),
        unit: unit.to_owned(),
        variant: variant.to_owned(),
        reason: Reason::Candidate,
        entity: Some((EntityKind::Rollout, "recs-v2".to_owned())),
        assignment_id: 42,
        segments: attrs(&[("platform", "ios")]),
    })
}

/// An interleaved list of the rankings (a, b, c) and (c, d, a); items carry their team for the
/// team methods only.
fn impression(id: &str, method: Method) -> Record {
    let ids = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let teams = [("a", 0), ("c", 1), ("b", 0), ("d", 1)];
    Record::Impression(ImpressionRecord {
        ts: 1_700_000_000_002,
        model: "search".to_owned(),
        experiment: "ranker-test".to_owned(),
        unit: format!("unit-of-{id}"),
        impression_id: id.to_owned(),
        impression: Impression {
            method,
            rankings: vec![ids(&["a", "b", "c"]), ids(&["c", "d", "a"])],
            items: teams
                .iter()
                .map(|(item, team)| Item {
                    id: item.to_string(),
                    team: method.has_teams().then_some(*team),
                })
                .collect(),
        },
        variants: ids(&["v2", "v1"]),
    })
}

fn decision(entity: &str, action: &str, ts: i64) -> Decision {
    Decision {
        id: 0,
        ts,
        entity_kind: EntityKind::Rollout,
        entity: entity.to_owned(),
        action: action.to_owned(),
        from_state: "stage-1".to_owned(),
        to_state: "stage-2".to_owned(),
        reason: "all gates passed".to_owned(),
        actor: "controller".to_owned(),
        evidence: json!({"conversion": {"lift": 0.012, "p": 0.003}, "n": [1000, 1012]}),
    }
}

fn entity(kind: EntityKind, name: &str, salt: u64) -> EntityRecord {
    EntityRecord {
        kind,
        name: name.to_owned(),
        salt,
        state: json!({"stage": 2, "status": "running", "history": ["a", "b"]}),
        updated_at: 1_700_000_000_123,
    }
}

fn replay_all(store: &dyn Store, from_seq: i64) -> Vec<(i64, Record)> {
    let mut out = Vec::new();
    store
        .replay(from_seq, &mut |seq, record| out.push((seq, record)))
        .unwrap();
    out
}

fn event_id(record: &Record) -> Option<&str> {
    match record {
        Record::Event(e) => Some(&e.id),
        Record::Exposure(_) | Record::Impression(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios over `&dyn Store`

fn round_trip_of_every_field(store: &dyn Store) {
    let records = vec![
        Record::Exposure(Exposure {
            ts: -5,
            model: "pricing".to_owned(),
            unit: "user-é-1".to_owned(),
            variant: "v2".to_owned(),
            reason: Reason::RolledBack,
            entity: Some((EntityKind::Experiment, "price-test".to_owned())),
            assignment_id: u64::MAX,
            segments: attrs(&[("country", "de"), ("plan", "pro \"quoted\"")]),
        }),
        Record::Exposure(Exposure {
            ts: 0,
            model: "pricing".to_owned(),
            unit: "user-2".to_owned(),
            variant: "v1".to_owned(),
            reason: Reason::Default,
            entity: None,
            assignment_id: 0,
            segments: BTreeMap::new(),
        }),
        Record::Event(OutcomeEvent {
            id: "evt-1".to_owned(),
            kind: "revenue".to_owned(),
            unit: "user-é-1".to_owned(),
            model: "pricing".to_owned(),
            value: Some(-12.375),
            ts: i64::MAX,
            attributes: attrs(&[("currency", "EUR")]),
        }),
        Record::Event(OutcomeEvent {
            id: "evt-2".to_owned(),
            kind: "click".to_owned(),
            unit: "user-2".to_owned(),
            model: "pricing".to_owned(),
            value: None,
            ts: 1,
            attributes: BTreeMap::new(),
        }),
        Record::Event(OutcomeEvent {
            id: "evt-3".to_owned(),
            kind: "latency".to_owned(),
            unit: "user-2".to_owned(),
            model: "pricing".to_owned(),
            value: Some(f64::MIN_POSITIVE),
            ts: 2,
            attributes: BTreeMap::new(),
        }),
    ];
    let appended = store.append(&records).unwrap();
    assert_eq!(appended.fresh, vec![true; 5]);
    assert_eq!(appended.duplicates, 0);
    let replayed = replay_all(store, 0);
    let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
    let expected_seqs: Vec<i64> = (appended.first_seq..appended.first_seq + 5).collect();
    assert_eq!(seqs, expected_seqs);
    let got: Vec<Record> = replayed.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, records);
    assert_eq!(store.count_records().unwrap(), (2, 3));

    // Every reason and entity kind survives its text form.
    let reasons = [
        Reason::Forced,
        Reason::Holdout,
        Reason::Experiment,
        Reason::Candidate,
        Reason::Control,
        Reason::RolledBack,
        Reason::Completed,
        Reason::Default,
    ];
    let kinds = [
        EntityKind::Rollout,
        EntityKind::Experiment,
        EntityKind::Holdout,
        EntityKind::Layer,
    ];
    let more: Vec<Record> = reasons
        .iter()
        .enumerate()
        .map(|(i, reason)| {
            Record::Exposure(Exposure {
                ts: i as i64,
                model: "m".to_owned(),
                unit: format!("u{i}"),
                variant: "v".to_owned(),
                reason: *reason,
                entity: Some((kinds[i % kinds.len()], format!("e{i}"))),
                assignment_id: i as u64 * 1_000_003,
                segments: BTreeMap::new(),
            })
        })
        .collect();
    let appended = store.append(&more).unwrap();
    let got: Vec<Record> = replay_all(store, appended.first_seq)
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(got, more);
}

fn seq_orders_mixed_records_across_calls(store: &dyn Store) {
    let first = store
        .append(&[
            exposure("a", "v1"),
            event("e1", Some(1.0)),
            exposure("b", "v2"),
        ])
        .unwrap();
    let second = store
        .append(&[event("e2", None), event("e3", Some(3.0))])
        .unwrap();
    let third = store
        .append(&[
            exposure("c", "v1"),
            event("e4", Some(4.0)),
            exposure("d", "v1"),
        ])
        .unwrap();
    assert_eq!(second.first_seq, first.first_seq + 3);
    assert_eq!(third.first_seq, second.first_seq + 2);

    let replayed = replay_all(store, 0);
    let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (first.first_seq..first.first_seq + 8).collect();
    assert_eq!(seqs, expected);
    let labels: Vec<String> = replayed
        .iter()
        .map(|(_, r)| match r {
            Record::Exposure(x) => format!("x:{}", x.unit),
            Record::Event(e) => format!("e:{}", e.id),
            Record::Impression(m) => format!("i:{}", m.impression_id),
        })
        .collect();
    assert_eq!(
        labels,
        ["x:a", "e:e1", "x:b", "e:e2", "e:e3", "x:c", "e:e4", "x:d"]
    );
    assert_eq!(store.count_records().unwrap(), (4, 4));
}

fn duplicates_within_and_across_calls(store: &dyn Store) {
    let first = store
        .append(&[
            event("e1", Some(1.0)),
            event("e2", Some(2.0)),
            event("e1", Some(99.0)),
            exposure("u", "v1"),
            exposure("u", "v1"),
            event("e3", None),
            event("e2", None),
        ])
        .unwrap();
    assert_eq!(
        first.fresh,
        vec![true, true, false, true, true, true, false]
    );
    assert_eq!(first.duplicates, 2);

    let second = store
        .append(&[event("e3", None), event("e4", None), event("e1", None)])
        .unwrap();
    assert_eq!(second.fresh, vec![false, true, false]);
    assert_eq!(second.duplicates, 2);
    // Stored records are numbered without gaps: five stored by the first call.
    assert_eq!(second.first_seq, first.first_seq + 5);

    let all_dupes = store
        .append(&[event("e4", None), event("e2", None)])
        .unwrap();
    assert_eq!(all_dupes.fresh, vec![false, false]);
    assert_eq!(all_dupes.duplicates, 2);
    assert_eq!(all_dupes.first_seq, second.first_seq + 1);

    let replayed = replay_all(store, 0);
    let ids: Vec<&str> = replayed.iter().filter_map(|(_, r)| event_id(r)).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
    // The first occurrence is the one kept.
    let e1 = replayed
        .iter()
        .find_map(|(_, r)| match r {
            Record::Event(e) if e.id == "e1" => Some(e.value),
            _ => None,
        })
        .unwrap();
    assert_eq!(e1, Some(1.0));
    // Exposures never deduplicate.
    assert_eq!(store.count_records().unwrap(), (2, 4));
}

fn replay_from_a_middle_seq(store: &dyn Store) {
    let records: Vec<Record> = (0..10)
        .map(|i| {
            if i % 3 == 0 {
                exposure(&format!("u{i}"), "v1")
            } else {
                event(&format!("e{i}"), Some(i as f64))
            }
        })
        .collect();
    let appended = store.append(&records).unwrap();
    let middle = appended.first_seq + 5;
    let tail = replay_all(store, middle);
    let seqs: Vec<i64> = tail.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (middle..middle + 5).collect::<Vec<_>>());
    let got: Vec<Record> = tail.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, records[5..].to_vec());

    assert!(replay_all(store, appended.first_seq + 10).is_empty());
    assert_eq!(replay_all(store, i64::MIN).len(), 10);
}

fn failed_append_leaves_nothing(store: &dyn Store) {
    store.append(&[event("kept", Some(1.0))]).unwrap();
    let before = store.count_records().unwrap();
    let next = store.append(&[]).unwrap().first_seq;

    let err = store
        .append(&[
            exposure("u", "v1"),
            event("a", Some(1.0)),
            event("b", Some(f64::NAN)),
        ])
        .unwrap_err();
    match &err {
        StoreError::InvalidRecord { index, reason } => {
            assert_eq!(*index, 2);
            assert!(reason.contains("\"b\""), "{reason}");
        }
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
    let err = store
        .append(&[event("c", Some(f64::INFINITY))])
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidRecord { index: 0, .. }));

    assert_eq!(store.count_records().unwrap(), before);
    assert_eq!(replay_all(store, 0).len(), 1);
    // The ids of the failed call were not remembered, and no seq was used up.
    let retry = store
        .append(&[
            exposure("u", "v1"),
            event("a", Some(1.0)),
            event("b", Some(2.0)),
        ])
        .unwrap();
    assert_eq!(retry.fresh, vec![true, true, true]);
    assert_eq!(retry.first_seq, next);
}

fn empty_append_reports_the_next_seq(store: &dyn Store) {
    let empty = store.append(&[]).unwrap();
    assert!(empty.fresh.is_empty());
    assert_eq!(empty.duplicates, 0);
    let appended = store.append(&[exposure("u", "v")]).unwrap();
    assert_eq!(appended.first_seq, empty.first_seq);
    assert_eq!(replay_all(store, 0)[0].0, empty.first_seq);
}

fn decisions_in_log_order_and_filtered(store: &dyn Store) {
    let plan = [
        ("alpha", "start", 10),
        ("beta", "start", 11),
        ("alpha", "advance", 12),
        ("alpha", "hold", 13),
        ("beta", "rollback", 14),
    ];
    let ids: Vec<i64> = plan
        .iter()
        .map(|(e, a, ts)| store.append_decision(&decision(e, a, *ts)).unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let all = store.decisions(None, 100).unwrap();
    assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), ids);
    let mut expected = decision("alpha", "start", 10);
    expected.id = ids[0];
    assert_eq!(all[0], expected);

    let newest = store.decisions(None, 2).unwrap();
    let actions: Vec<&str> = newest.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["hold", "rollback"]);

    let alpha = store.decisions(Some("alpha"), 100).unwrap();
    let actions: Vec<&str> = alpha.iter().map(|d| d.action.as_str()).collect();
    assert_eq!(actions, ["start", "advance", "hold"]);
    let alpha_newest = store.decisions(Some("alpha"), 2).unwrap();
    let ts: Vec<i64> = alpha_newest.iter().map(|d| d.ts).collect();
    assert_eq!(ts, [12, 13]);

    assert!(store.decisions(Some("gamma"), 10).unwrap().is_empty());
    assert!(store.decisions(None, 0).unwrap().is_empty());
}

fn entities_save_load_rename(store: &dyn Store) {
    assert!(store.load_entities().unwrap().is_empty());
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs").unwrap(),
        None
    );

    let recs = entity(EntityKind::Rollout, "recs", u64::MAX);
    let test = entity(EntityKind::Experiment, "recs", 7);
    let other = entity(EntityKind::Rollout, "other", 1 << 63);
    for e in [&recs, &test, &other] {
        store.save_entity(e).unwrap();
    }
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs").unwrap(),
        Some(recs.clone())
    );
    assert_eq!(
        store.load_entity(EntityKind::Experiment, "recs").unwrap(),
        Some(test.clone())
    );
    let mut all = store.load_entities().unwrap();
    all.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    assert_eq!(all, vec![other.clone(), recs.clone(), test.clone()]);

    // Save replaces.
    let mut updated = recs.clone();
    updated.state = json!({"stage": 3});
    updated.updated_at += 1000;
    store.save_entity(&updated).unwrap();
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs").unwrap(),
        Some(updated.clone())
    );
    assert_eq!(store.load_entities().unwrap().len(), 3);

    // Rename keeps salt and state.
    store
        .rename_entity(EntityKind::Rollout, "recs", "recs-2025")
        .unwrap();
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs").unwrap(),
        None
    );
    let mut renamed = updated.clone();
    renamed.name = "recs-2025".to_owned();
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs-2025").unwrap(),
        Some(renamed.clone())
    );
    // The experiment of the same name is another entity.
    assert_eq!(
        store.load_entity(EntityKind::Experiment, "recs").unwrap(),
        Some(test.clone())
    );

    // Renaming onto an existing name fails and changes nothing.
    match store.rename_entity(EntityKind::Rollout, "recs-2025", "other") {
        Err(StoreError::EntityExists { kind, name }) => {
            assert_eq!(kind, EntityKind::Rollout);
            assert_eq!(name, "other");
        }
        res => panic!("expected EntityExists, got {res:?}"),
    }
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "other").unwrap(),
        Some(other)
    );
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "recs-2025").unwrap(),
        Some(renamed)
    );

    match store.rename_entity(EntityKind::Holdout, "missing", "x") {
        Err(e @ StoreError::EntityNotFound { .. }) => {
            assert_eq!(e.to_string(), "no holdout named \"missing\" is stored");
        }
        res => panic!("expected EntityNotFound, got {res:?}"),
    }
    assert_eq!(store.load_entity(EntityKind::Holdout, "x").unwrap(), None);
}

fn config_versions_deduplicate(store: &dyn Store) {
    assert_eq!(store.latest_config().unwrap(), None);
    let a = "[model.recs]\nvariants = [\"v1\"]\n";
    let b = "[model.recs]\nvariants = [\"v1\", \"v2\"]\n";
    assert_eq!(store.save_config(a, 100).unwrap(), 1);
    assert_eq!(store.save_config(a, 200).unwrap(), 1);
    assert_eq!(store.latest_config().unwrap(), Some((1, a.to_owned())));
    assert_eq!(store.save_config(b, 300).unwrap(), 2);
    assert_eq!(store.save_config(b, 301).unwrap(), 2);
    // Going back to an earlier text is a new version: the history is kept in order.
    assert_eq!(store.save_config(a, 400).unwrap(), 3);
    assert_eq!(store.latest_config().unwrap(), Some((3, a.to_owned())));
}

fn impressions_round_trip_in_seq_order(store: &dyn Store) {
    let records = vec![
        exposure("a", "v1"),
        impression("imp-1", Method::TeamDraft),
        event("e1", Some(1.0)),
        impression("imp-2", Method::Probabilistic { tau: 2.5 }),
        impression("imp-3", Method::Balanced),
        exposure("b", "v2"),
    ];
    let first = store.append(&records).unwrap();
    assert_eq!(first.fresh, vec![true; 6]);
    // Impressions never deduplicate and take their seq like any record.
    let second = store
        .append(&[impression("imp-1", Method::TeamDraft), event("e2", None)])
        .unwrap();
    assert_eq!(second.first_seq, first.first_seq + 6);
    assert_eq!(second.fresh, vec![true, true]);

    let replayed = replay_all(store, 0);
    let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (first.first_seq..first.first_seq + 8).collect::<Vec<_>>()
    );
    let got: Vec<Record> = replayed.iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(got[..6], records[..]);
    // Every field, the teams of the items and τ come back as written.
    match &got[3] {
        Record::Impression(m) => {
            assert_eq!(m.impression.method, Method::Probabilistic { tau: 2.5 });
            assert_eq!(m.variants, ["v2", "v1"]);
            assert!(m.impression.items.iter().all(|i| i.team.is_none()));
        }
        other => panic!("expected an impression, got {other:?}"),
    }
    match &got[1] {
        Record::Impression(m) => {
            assert_eq!(m.impression.items.len(), 4);
            assert!(m.impression.items.iter().all(|i| i.team.is_some()));
        }
        other => panic!("expected an impression, got {other:?}"),
    }

    // Replay from the middle starts at an impression.
    let tail = replay_all(store, first.first_seq + 3);
    let labels: Vec<String> = tail
        .iter()
        .map(|(_, r)| match r {
            Record::Exposure(x) => format!("x:{}", x.unit),
            Record::Event(e) => format!("e:{}", e.id),
            Record::Impression(m) => format!("i:{}", m.impression_id),
        })
        .collect();
    assert_eq!(labels, ["i:imp-2", "i:imp-3", "x:b", "i:imp-1", "e:e2"]);
    // The counts are of exposures and events only.
    assert_eq!(store.count_records().unwrap(), (2, 2));
    // Appending after a reload of the log continues the shared sequence.
    let third = store.append(&[exposure("c", "v1")]).unwrap();
    assert_eq!(third.first_seq, first.first_seq + 8);
}

fn a_step_writes_decisions_and_state_together(store: &dyn Store) {
    let decisions = [decision("r", "promote", 10), decision("r", "complete", 11)];
    let entities = [entity(EntityKind::Rollout, "r", 7)];
    let ids = store
        .commit(&Step {
            fence: None,
            decisions: &decisions,
            entities: &entities,
        })
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    let logged = store.decisions(Some("r"), 10).unwrap();
    let actions: Vec<(i64, &str)> = logged.iter().map(|d| (d.id, d.action.as_str())).collect();
    assert_eq!(actions, [(ids[0], "promote"), (ids[1], "complete")]);
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "r").unwrap(),
        Some(entities[0].clone())
    );

    // A fence nobody holds: nothing of the step is written.
    let stale = Lease {
        name: "controller".to_owned(),
        holder: "replica-a".to_owned(),
        epoch: 1,
    };
    let mut moved = entity(EntityKind::Rollout, "r", 7);
    moved.state = json!({"stage": 3});
    let err = store
        .commit(&Step {
            fence: Some(&stale),
            decisions: &[decision("r", "rollback", 12)],
            entities: std::slice::from_ref(&moved),
        })
        .unwrap_err();
    match &err {
        StoreError::Fenced {
            lease,
            holder,
            epoch,
        } => assert_eq!(
            (lease.as_str(), holder.as_str(), *epoch),
            ("controller", "replica-a", 1)
        ),
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(store.decisions(None, 10).unwrap().len(), 2);
    assert_eq!(
        store.load_entity(EntityKind::Rollout, "r").unwrap(),
        Some(entities[0].clone())
    );
}

fn lease_epochs_only_grow_and_fence_old_holders(store: &dyn Store) {
    let long = std::time::Duration::from_secs(60);
    let a = store
        .acquire_lease("controller", "a", long)
        .unwrap()
        .unwrap();
    assert_eq!(a.epoch, 1);
    assert_eq!(store.acquire_lease("controller", "b", long).unwrap(), None);
    // A renewal keeps the epoch.
    assert_eq!(
        store.acquire_lease("controller", "a", long).unwrap(),
        Some(a.clone())
    );
    let step = |fence: &Lease| {
        store.commit(&Step {
            fence: Some(fence),
            decisions: &[decision("r", "promote", 1)],
            entities: &[],
        })
    };
    assert_eq!(step(&a).unwrap().len(), 1);

    store.release_lease(&a).unwrap();
    let b = store
        .acquire_lease("controller", "b", long)
        .unwrap()
        .unwrap();
    assert_eq!(b.epoch, 2);
    assert!(matches!(step(&a), Err(StoreError::Fenced { epoch: 1, .. })));
    assert_eq!(step(&b).unwrap().len(), 1);
    // Releasing a holding that is no longer current changes nothing.
    store.release_lease(&a).unwrap();
    assert_eq!(store.acquire_lease("controller", "c", long).unwrap(), None);

    // A lease that runs out can be taken, and its old holder's steps are refused.
    let short = std::time::Duration::from_millis(100);
    let x = store.acquire_lease("other", "x", short).unwrap().unwrap();
    assert_eq!(x.epoch, 1);
    assert_eq!(store.acquire_lease("other", "y", long).unwrap(), None);
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert!(matches!(step(&x), Err(StoreError::Fenced { .. })));
    let y = store.acquire_lease("other", "y", long).unwrap().unwrap();
    assert_eq!(y.epoch, 2);
    // The old holder coming back gets nothing while y holds it.
    assert_eq!(store.acquire_lease("other", "x", short).unwrap(), None);
    assert_eq!(store.decisions(None, 10).unwrap().len(), 2);
}

/// Generates one test per scenario and implementation.
macro_rules! suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_on_disk {
            $(
                #[test]
                fn $scenario() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = rampart_store::SqliteStore::open(dir.path()).unwrap();
                    super::$scenario(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $scenario() {
                    let Some(schema) = rampart_store::testing::TestSchema::create() else {
                        return;
                    };
                    let store = rampart_store::PostgresStore::open(&schema.url()).unwrap();
                    super::$scenario(&store);
                }
            )*
        }
        mod sqlite_in_memory {
            $(
                #[test]
                fn $scenario() {
                    let store = rampart_store::SqliteStore::open_in_memory().unwrap();
                    super::$scenario(&store);
                }
            )*
        }
    };
}

suite!(
    round_trip_of_every_field,
    seq_orders_mixed_records_across_calls,
    duplicates_within_and_across_calls,
    replay_from_a_middle_seq,
    failed_append_leaves_nothing,
    empty_append_reports_the_next_seq,
    decisions_in_log_order_and_filtered,
    entities_save_load_rename,
    config_versions_deduplicate,
    impressions_round_trip_in_seq_order,
    a_step_writes_decisions_and_state_together,
    lease_epochs_only_grow_and_fence_old_holders,
);

// ---------------------------------------------------------------------------------------------
// Reopening the same store, and several threads on one: each scenario gets a function that
// opens the store at one location, as often as it likes.

type Open<'a> = &'a dyn Fn() -> Arc<dyn Store>;

fn duplicates_are_recognised_across_a_reopen(open: Open<'_>) {
    let first = {
        let store = open();
        store
            .append(&[
                event("e1", Some(1.0)),
                exposure("u", "v1"),
                event("e2", None),
            ])
            .unwrap()
    };
    let store = open();
    assert_eq!(store.count_records().unwrap(), (1, 2));
    let again = store
        .append(&[event("e2", None), event("e3", None), event("e1", None)])
        .unwrap();
    assert_eq!(again.fresh, vec![false, true, false]);
    assert_eq!(again.duplicates, 2);
    // Numbering continues after the largest stored seq.
    assert_eq!(again.first_seq, first.first_seq + 3);
    let ids: Vec<String> = replay_all(store.as_ref(), 0)
        .iter()
        .filter_map(|(_, r)| event_id(r).map(str::to_owned))
        .collect();
    assert_eq!(ids, ["e1", "e2", "e3"]);
}

fn acknowledged_appends_are_all_there_after_a_reopen(open: Open<'_>) {
    let mut expected = Vec::new();
    {
        let store = open();
        for batch in 0..5 {
            let records: Vec<Record> = (0..200)
                .map(|i| {
                    if i % 4 == 0 {
                        exposure(&format!("u{batch}-{i}"), "v2")
                    } else {
                        event(&format!("e{batch}-{i}"), Some(f64::from(i)))
                    }
                })
                .collect();
            store.append(&records).unwrap();
            expected.extend(records);
        }
        store.save_config("a = 1", 5).unwrap();
        store.append_decision(&decision("r", "start", 6)).unwrap();
        store
            .save_entity(&entity(EntityKind::Layer, "l", 9))
            .unwrap();
    }
    let store = open();
    let replayed = replay_all(store.as_ref(), 0);
    assert_eq!(replayed.len(), 1000);
    assert_eq!(replayed.first().map(|(s, _)| *s), Some(1));
    assert_eq!(replayed.last().map(|(s, _)| *s), Some(1000));
    let got: Vec<Record> = replayed.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, expected);
    assert_eq!(store.count_records().unwrap(), (250, 750));
    assert_eq!(
        store.latest_config().unwrap(),
        Some((1, "a = 1".to_owned()))
    );
    assert_eq!(store.decisions(None, 10).unwrap().len(), 1);
    assert_eq!(
        store.load_entity(EntityKind::Layer, "l").unwrap(),
        Some(entity(EntityKind::Layer, "l", 9))
    );
    assert_eq!(store.append(&[]).unwrap().first_seq, 1001);
}

fn an_impression_stored_last_keeps_its_seq_after_a_reopen(open: Open<'_>) {
    {
        let store = open();
        store
            .append(&[
                event("e1", None),
                impression("imp-1", Method::TeamDraft),
                impression("imp-2", Method::Balanced),
            ])
            .unwrap();
    }
    let store = open();
    assert_eq!(store.append(&[]).unwrap().first_seq, 4);
    let replayed = replay_all(store.as_ref(), 0);
    assert_eq!(replayed.len(), 3);
    assert_eq!(replayed[2].1, impression("imp-2", Method::Balanced));
}

#[test]
fn a_second_open_of_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let first = SqliteStore::open(&data).unwrap();
    match SqliteStore::open(&data) {
        Err(e @ StoreError::Locked { .. }) => {
            let message = e.to_string();
            assert!(message.contains(&data.display().to_string()), "{message}");
            assert!(message.contains("rampart.lock"), "{message}");
        }
        Err(other) => panic!("expected Locked, got {other:?}"),
        Ok(_) => panic!("a second open of the same data directory succeeded"),
    }
    // The first store still works, and the directory opens again once it is closed.
    first.append(&[event("e", None)]).unwrap();
    drop(first);
    let again = SqliteStore::open(&data).unwrap();
    assert_eq!(again.count_records().unwrap(), (0, 1));
}

#[test]
fn a_data_dir_that_is_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    match SqliteStore::open(&file) {
        Err(StoreError::DataDir { path, .. }) => assert_eq!(path, file.display().to_string()),
        Err(other) => panic!("expected DataDir, got {other:?}"),
        Ok(_) => panic!("opened a file as a data directory"),
    }
}

fn replay_sees_a_consistent_prefix_while_appends_go_on(open: Open<'_>) {
    let store = open();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for batch in 0..40 {
                let records: Vec<Record> = (0..50)
                    .map(|i| {
                        if i % 2 == 0 {
                            exposure(&format!("u{batch}-{i}"), "v1")
                        } else {
                            event(&format!("e{batch}-{i}"), None)
                        }
                    })
                    .collect();
                store.append(&records).unwrap();
            }
        })
    };
    let mut last_len = 0;
    while !writer.is_finished() {
        let seqs: Vec<i64> = replay_all(store.as_ref(), 0)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        // Whole batches only, numbered 1..=n without gaps.
        assert_eq!(seqs.len() % 50, 0);
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
        assert!(seqs.len() >= last_len);
        last_len = seqs.len();
    }
    writer.join().unwrap();
    assert_eq!(replay_all(store.as_ref(), 0).len(), 2000);
    assert_eq!(store.count_records().unwrap(), (1000, 1000));
}

/// Generates one test per reopen scenario and persistent implementation.
macro_rules! reopen_suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_reopened {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let dir = tempfile::tempdir().unwrap();
                    let open = || -> Arc<dyn Store> { Arc::new(SqliteStore::open(dir.path()).unwrap()) };
                    super::$scenario(&open);
                }
            )*
        }
        mod postgres_reopened {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let Some(schema) = rampart_store::testing::TestSchema::create() else {
                        return;
                    };
                    let open = || -> Arc<dyn Store> {
                        Arc::new(rampart_store::PostgresStore::open(&schema.url()).unwrap())
                    };
                    super::$scenario(&open);
                }
            )*
        }
    };
}

reopen_suite!(
    duplicates_are_recognised_across_a_reopen,
    acknowledged_appends_are_all_there_after_a_reopen,
    an_impression_stored_last_keeps_its_seq_after_a_reopen,
    replay_sees_a_consistent_prefix_while_appends_go_on,
);

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the writer lock, several writers on one schema, lost sessions

use rampart_store::testing::TestSchema;
use rampart_store::PostgresStore;

#[test]
fn a_second_writer_on_the_same_schema_is_refused() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let first = PostgresStore::open(&schema.url()).unwrap();
    let asked = std::time::Instant::now();
    match PostgresStore::open(&schema.url()) {
        Err(e @ StoreError::InUse { .. }) => {
            let text = e.to_string();
            assert!(text.contains("in use by another rampart process"), "{text}");
            assert!(!e.is_transient());
            // After waiting for a lock that a crashed process would have released by then.
            assert!(asked.elapsed() >= std::time::Duration::from_secs(9));
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    // A shared store is not kept out, and another schema is another store.
    assert!(PostgresStore::open_shared(&schema.url()).is_ok());
    let Some(other) = TestSchema::create() else {
        return;
    };
    assert!(PostgresStore::open(&other.url()).is_ok());
    drop(first);
    assert!(PostgresStore::open(&schema.url()).is_ok());
}

#[test]
fn replicas_starting_together_migrate_once() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let url = schema.url();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open_shared(&url).map(|_| ()))
        })
        .collect();
    for handle in opened {
        handle.join().unwrap().unwrap();
    }
    // Every migration applied exactly once (applying one twice would have failed the open that
    // ran it), numbered from 1 without gaps.
    let versions = schema
        .query("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap();
    let expected: Vec<Option<String>> = (1..=versions.len()).map(|v| Some(v.to_string())).collect();
    assert!(versions.len() >= 2, "{versions:?}");
    assert_eq!(versions, expected);
}

/// Four threads on two shared stores append overlapping batches (each id is sent by two
/// writers, as a retry that reaches another replica would be): every id is acknowledged as new
/// exactly once, stored once, and the log is numbered 1..=n without gaps in commit order.
#[test]
fn concurrent_writers_store_each_event_once_in_one_order() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let stores: Vec<Arc<PostgresStore>> = (0..2)
        .map(|_| Arc::new(PostgresStore::open_shared(&schema.url()).unwrap()))
        .collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&stores[w % 2]);
            std::thread::spawn(move || {
                let mut fresh_ids = Vec::new();
                let mut exposures = 0;
                for batch in 0..25 {
                    // Writers 0 and 1 send the same ids, as do writers 2 and 3.
                    let pair = w / 2;
                    let records: Vec<Record> = (0..40)
                        .map(|i| {
                            if i % 5 == 0 {
                                exposure(&format!("w{w}-{batch}-{i}"), "v1")
                            } else {
                                event(&format!("p{pair}-{batch}-{i}"), Some(1.0))
                            }
                        })
                        .collect();
                    let appended = store.append(&records).unwrap();
                    for (record, fresh) in records.iter().zip(&appended.fresh) {
                        match record {
                            Record::Event(e) if *fresh => fresh_ids.push(e.id.clone()),
                            Record::Exposure(_) => exposures += 1,
                            _ => {}
                        }
                    }
                }
                (fresh_ids, exposures)
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    let mut exposures = 0;
    for handle in writers {
        let (ids, x) = handle.join().unwrap();
        acknowledged.extend(ids);
        exposures += x;
    }
    acknowledged.sort();
    let before = acknowledged.len();
    acknowledged.dedup();
    assert_eq!(
        before,
        acknowledged.len(),
        "an id was acknowledged as new twice"
    );
    // 2 pairs x 25 batches x 32 events.
    assert_eq!(acknowledged.len(), 1600);
    assert_eq!(exposures, 4 * 25 * 8);

    let replayed = replay_all(stores[1].as_ref(), 0);
    let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=2400).collect::<Vec<_>>());
    let mut stored: Vec<String> = replayed
        .iter()
        .filter_map(|(_, r)| event_id(r).map(str::to_owned))
        .collect();
    stored.sort();
    assert_eq!(stored, acknowledged);
    assert_eq!(stores[0].count_records().unwrap(), (800, 1600));
    // Both stores read the same log.
    assert_eq!(replay_all(stores[0].as_ref(), 0), replayed);
}

#[test]
fn a_lost_session_is_opened_again() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let app = format!("rampart-{}", schema.name());
    let url = format!("{}&application_name={app}", schema.url());
    let store = PostgresStore::open(&url).unwrap();
    store.append(&[event("before", None)]).unwrap();
    assert_eq!(replay_all(&store, 0).len(), 1);
    schema
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .unwrap();
    // The first call on a dead session may fail, and then only as a transient error.
    match store.append(&[event("after", None)]) {
        Ok(appended) => assert_eq!(appended.fresh, vec![true]),
        Err(e) => {
            assert!(e.is_transient(), "{e:?}");
            store.append(&[event("after", None)]).unwrap();
        }
    }
    let _ = store.count_records();
    let ids: Vec<String> = replay_all(&store, 0)
        .iter()
        .filter_map(|(_, r)| event_id(r).map(str::to_owned))
        .collect();
    assert_eq!(ids, ["before", "after"]);
    // The writer took its lock again on reconnecting.
    assert!(matches!(
        PostgresStore::open(&url),
        Err(StoreError::InUse { .. })
    ));
}

#[test]
fn a_batch_missing_a_record_is_reported_as_corrupt() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let store = PostgresStore::open(&schema.url()).unwrap();
    store
        .append(&[event("a", None), exposure("u", "v"), event("b", None)])
        .unwrap();
    schema.execute("DELETE FROM events WHERE id = 'b'").unwrap();
    let mut seen = 0;
    match store.replay(0, &mut |_, _| seen += 1) {
        Err(StoreError::Corrupt(message)) => {
            assert!(
                message.contains("should hold 3 records, holds 2"),
                "{message}"
            )
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(seen, 0);
    schema
        .execute("UPDATE exposures SET reason = 'bogus'")
        .unwrap();
    schema.execute("DELETE FROM log_batches").unwrap();
    assert!(replay_all(&store, 0).is_empty());
}
