//! Properties of assignment: uniform buckets, monotone ramps, exclusive layers, stability across
//! restart and reload, and the published test vectors.

use std::collections::HashMap;

use rampart_core::assign::{bucket, BUCKETS};
use rampart_core::config::{load_str, Format};
use rampart_core::state::{reconcile, LiveState, RolloutState, RolloutStatus};
use rampart_core::{Assigner, Config, EntityKind, EntityRecord, Reason};

fn config(text: &str) -> Config {
    load_str(text, Format::Toml, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A deterministic salt source, so tests are reproducible.
fn salts(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn live(config: &Config, stored: &[EntityRecord]) -> (LiveState, Vec<EntityRecord>) {
    let r = reconcile(config, stored, 1_000, &mut salts(7)).expect("reconcile");
    let mut all: Vec<EntityRecord> = stored.to_vec();
    for s in r.save.iter() {
        all.retain(|x| !(x.kind == s.kind && x.name == s.name));
        all.push(s.clone());
    }
    (r.state, all)
}

const BASE: &str = r#"
[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3", force_units = ["qa-1"] }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
"#;

#[test]
fn buckets_are_uniform_for_every_salt() {
    // Chi-square over all 10,000 buckets with 10^6 keys: df = 9999, so the statistic is about
    // N(9999, 141.4²); 4.5 standard deviations is a false-alarm rate near 3e-6 per salt.
    let limit = 9999.0 + 4.5 * (2.0f64 * 9999.0).sqrt();
    for salt in [0u64, 1, 42, 0xDEAD_BEEF, u64::MAX] {
        let mut counts = vec![0u32; BUCKETS as usize];
        for i in 0..1_000_000u32 {
            counts[bucket(salt, &format!("user-{i}")) as usize] += 1;
        }
        let expected = 1_000_000.0 / BUCKETS as f64;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(
            chi2 < limit,
            "salt {salt}: chi-square {chi2:.0} exceeds {limit:.0}"
        );
        assert!(
            chi2 > 9999.0 - 4.5 * (2.0f64 * 9999.0).sqrt(),
            "salt {salt}: too uniform ({chi2:.0})"
        );
    }
}

#[test]
fn published_test_vectors_hold() {
    // The same table is printed in docs/assignment.md for clients in other languages; the hashes
    // were computed independently with Python's `xxhash` package (xxh3_64_intdigest(key, seed=salt)).
    let vectors: [(u64, &str, u64, u32); 8] = [
        (0, "user-1", 8968379626967066057, 6057),
        (0, "user-2", 2320263887105451220, 1220),
        (42, "user-1", 10685459568967829575, 9575),
        (42, "alice", 9203602360671217190, 7190),
        (0xDEAD_BEEF, "alice", 6411282073708086057, 6057),
        (0xDEAD_BEEF, "", 7383350378103974082, 4082),
        (u64::MAX, "bob", 5508267695252339005, 9005),
        (7, "ünïcode-κλειδί", 9247898040543608203, 8203),
    ];
    for (salt, key, hash, expected) in vectors {
        assert_eq!(
            xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), salt),
            hash,
            "hash of {key:?}"
        );
        assert_eq!(
            bucket(salt, key),
            expected,
            "bucket of salt {salt} key {key:?}"
        );
    }
}

fn with_rollout_traffic(state: &mut LiveState, name: &str, traffic: f64) {
    let r = state.rollouts.get_mut(name).expect("rollout");
    *r = RolloutState {
        status: RolloutStatus::Running,
        traffic,
        ..r.clone()
    };
}

#[test]
fn ramp_up_is_monotone_for_candidate_and_control() {
    let cfg = config(&format!(
        "{BASE}\n[[rollouts]]\nname = \"r\"\nmodel = \"recs\"\nbaseline = \"v1\"\ncandidate = \"v2\"\n\
         stages = [{{ traffic = 1 }}, {{ traffic = 5 }}, {{ traffic = 20 }}, {{ traffic = 50 }}, {{ traffic = 100 }}]\n"
    ));
    let (mut state, _) = live(&cfg, &[]);
    let steps = [0.5, 1.0, 5.0, 12.5, 20.0, 37.0, 50.0];
    let keys: Vec<String> = (0..20_000).map(|i| format!("u{i}")).collect();
    let mut prev_candidate = vec![false; keys.len()];
    let mut prev_control = vec![false; keys.len()];
    for &p in &steps {
        with_rollout_traffic(&mut state, "r", p);
        let a = Assigner::new(&cfg, &state);
        let (mut cand, mut ctrl) = (0usize, 0usize);
        for (i, k) in keys.iter().enumerate() {
            let got = a.assign("recs", k, None, 0).unwrap();
            let is_cand = got.reason == Reason::Candidate;
            let is_ctrl = got.reason == Reason::Control;
            assert!(
                !prev_candidate[i] || is_cand,
                "unit {k} left the candidate at {p}%"
            );
            assert!(
                !prev_control[i] || is_ctrl,
                "unit {k} left the control at {p}%"
            );
            if is_cand {
                assert_eq!(got.variant, "v2");
                cand += 1;
            }
            if is_ctrl {
                assert_eq!(got.variant, "v1");
                ctrl += 1;
            }
            prev_candidate[i] = is_cand;
            prev_control[i] = is_ctrl;
        }
        // Equal-sized slices, each within 5 standard deviations of p% of the keys.
        let expect = keys.len() as f64 * p / 100.0;
        let sd = (keys.len() as f64 * p / 100.0 * (1.0 - p / 100.0)).sqrt();
        for (what, n) in [("candidate", cand), ("control", ctrl)] {
            assert!(
                (n as f64 - expect).abs() < 5.0 * sd + 1.0,
                "{what} at {p}%: {n} units, expected ~{expect}"
            );
        }
    }
}

#[test]
fn rollback_and_completion_apply_to_every_unit() {
    let cfg = config(&format!(
        "{BASE}\n[[rollouts]]\nname = \"r\"\nmodel = \"recs\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nstages = [{{ traffic = 20 }}]\n"
    ));
    let (mut state, _) = live(&cfg, &[]);
    for (status, variant, reason) in [
        (RolloutStatus::RolledBack, "v1", Reason::RolledBack),
        (RolloutStatus::Completed, "v2", Reason::Completed),
    ] {
        state.rollouts.get_mut("r").unwrap().status = status;
        let a = Assigner::new(&cfg, &state);
        for i in 0..2_000 {
            let got = a.assign("recs", &format!("u{i}"), None, 0).unwrap();
            assert_eq!((got.variant, got.reason), (variant, reason));
        }
    }
}

#[test]
fn layer_experiments_never_share_a_unit_and_hold_their_share() {
    let cfg = config(&format!(
        "{BASE}\n\
         [[experiments]]\nname = \"a\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v2\"]\ntraffic = 30\nlayer = \"L\"\nprimary = \"conversion\"\n\
         [[experiments]]\nname = \"b\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v3\"]\ntraffic = 45\nlayer = \"L\"\nprimary = \"conversion\"\n\
         [[experiments]]\nname = \"c\"\nmodel = \"recs\"\nvariants = [\"v2\", \"v3\"]\ntraffic = 25\nlayer = \"L\"\nprimary = \"conversion\"\n"
    ));
    let (state, _) = live(&cfg, &[]);
    let a = Assigner::new(&cfg, &state);
    let n = 100_000;
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..n {
        let got = a.assign("recs", &format!("u{i}"), None, 0).unwrap();
        // Every unit is in exactly one experiment of a full layer.
        let (kind, name) = got.entity.expect("a full layer takes every unit");
        assert_eq!(kind, EntityKind::Experiment);
        *counts.entry(name.to_string()).or_insert(0usize) += 1;
    }
    for (name, share) in [("a", 0.30), ("b", 0.45), ("c", 0.25)] {
        let got = counts[name] as f64 / n as f64;
        assert!(
            (got - share).abs() < 0.006,
            "experiment {name}: share {got}, configured {share}"
        );
    }
}

#[test]
fn adding_an_experiment_to_a_layer_moves_no_unit_of_the_others() {
    let one = format!(
        "{BASE}\n[[experiments]]\nname = \"a\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v2\"]\ntraffic = 40\nlayer = \"L\"\nprimary = \"conversion\"\n"
    );
    let two = format!(
        "{one}\n[[experiments]]\nname = \"b\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v3\"]\ntraffic = 60\nlayer = \"L\"\nprimary = \"conversion\"\n"
    );
    let (c1, c2) = (config(&one), config(&two));
    let (s1, stored) = live(&c1, &[]);
    let (s2, _) = live(&c2, &stored);
    let (a1, a2) = (Assigner::new(&c1, &s1), Assigner::new(&c2, &s2));
    for i in 0..50_000 {
        let k = format!("u{i}");
        let before = a1.assign("recs", &k, None, 0).unwrap();
        let after = a2.assign("recs", &k, None, 0).unwrap();
        if before.entity.is_some() {
            assert_eq!(
                before, after,
                "unit {k} moved when a second experiment joined the layer"
            );
        } else {
            assert_eq!(
                after.entity,
                Some((EntityKind::Experiment, "b")),
                "unit {k} should fill the free buckets"
            );
        }
    }
}

#[test]
fn assignments_survive_restart_rename_and_unrelated_edits() {
    let text = format!(
        "{BASE}\n[[holdouts]]\nname = \"h\"\npercent = 5\n\
         [[rollouts]]\nname = \"r\"\nmodel = \"recs\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nstages = [{{ traffic = 10 }}, {{ traffic = 50 }}]\n"
    );
    let cfg = config(&text);
    let (state, stored) = live(&cfg, &[]);
    let before = Assigner::new(&cfg, &state);

    // Restart: the same config against the stored records, with a different salt source.
    let restarted = reconcile(&cfg, &stored, 99_999, &mut salts(12345)).unwrap();
    assert!(restarted.save.is_empty(), "nothing new to store on restart");
    // Reload: the rollout renamed (with renamed_from), a stage and a metric edited.
    let edited = config(
        &text
            .replace("name = \"r\"", "name = \"r2\"\nrenamed_from = \"r\"")
            .replace("{ traffic = 50 }", "{ traffic = 60 }")
            .replace("\"purchase\"", "\"order\""),
    );
    let reloaded = reconcile(&edited, &stored, 99_999, &mut salts(999)).unwrap();
    assert_eq!(
        reloaded.renames,
        vec![(EntityKind::Rollout, "r".to_string(), "r2".to_string())]
    );

    let after_restart = Assigner::new(&cfg, &restarted.state);
    let after_reload = Assigner::new(&edited, &reloaded.state);
    for i in 0..20_000 {
        let k = format!("u{i}");
        let a = before.assign("recs", &k, None, 0).unwrap();
        assert_eq!(
            a,
            after_restart.assign("recs", &k, None, 0).unwrap(),
            "unit {k} changed on restart"
        );
        let b = after_reload.assign("recs", &k, None, 0).unwrap();
        assert_eq!(
            (a.variant, a.reason),
            (b.variant, b.reason),
            "unit {k} changed on reload"
        );
    }
}

#[test]
fn holdout_comes_first_and_forced_units_win() {
    let cfg = config(&format!(
        "{BASE}\n[[holdouts]]\nname = \"h\"\npercent = 10\n\
         [[rollouts]]\nname = \"r\"\nmodel = \"recs\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nstages = [{{ traffic = 100 }}]\n"
    ));
    let (state, _) = live(&cfg, &[]);
    let a = Assigner::new(&cfg, &state);
    let mut held = 0;
    for i in 0..50_000 {
        let got = a.assign("recs", &format!("u{i}"), None, 0).unwrap();
        match got.reason {
            Reason::Holdout => {
                held += 1;
                assert_eq!(got.variant, "v1");
                assert_eq!(got.entity, Some((EntityKind::Holdout, "h")));
            }
            Reason::Candidate => assert_eq!(got.variant, "v2"),
            other => panic!("unexpected reason {other:?} at 100% traffic"),
        }
    }
    assert!(
        (held as f64 / 50_000.0 - 0.10).abs() < 0.01,
        "holdout share {held}"
    );
    let qa = a.assign("recs", "qa-1", None, 0).unwrap();
    assert_eq!((qa.variant, qa.reason), ("v3", Reason::Forced));
    let forced = a.assign("recs", "u1", Some("v3"), 0).unwrap();
    assert_eq!((forced.variant, forced.reason), ("v3", Reason::Forced));
    let bad = a
        .assign("recs", "u1", Some("v9"), 0)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("v9") && bad.contains("v1, v2, v3"), "{bad}");
    let unknown = a.assign("nope", "u1", None, 0).unwrap_err().to_string();
    assert!(
        unknown.contains("nope") && unknown.contains("recs"),
        "{unknown}"
    );
}

#[test]
fn split_weights_are_respected() {
    let cfg = config(&format!(
        "{BASE}\n[[experiments]]\nname = \"w\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v2\", \"v3\"]\nweights = [1, 2, 1]\nprimary = \"conversion\"\n"
    ));
    let (state, _) = live(&cfg, &[]);
    let a = Assigner::new(&cfg, &state);
    let mut counts = std::collections::BTreeMap::new();
    let n = 100_000;
    for i in 0..n {
        *counts
            .entry(a.assign("recs", &format!("u{i}"), None, 0).unwrap().variant)
            .or_insert(0) += 1;
    }
    for (v, share) in [("v1", 0.25), ("v2", 0.5), ("v3", 0.25)] {
        let got = counts[v] as f64 / n as f64;
        assert!((got - share).abs() < 0.006, "{v}: {got} vs {share}");
    }
}

/// Counts of assignments by (reason, entity, variant) over `n` units, as shares.
fn observed_split(a: &Assigner, n: usize) -> HashMap<(Reason, Option<String>, String), f64> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let got = a.assign("recs", &format!("u{i}"), None, 0).unwrap();
        let key = (
            got.reason,
            got.entity.map(|(_, name)| name.to_string()),
            got.variant.to_string(),
        );
        *counts.entry(key).or_insert(0.0) += 1.0 / n as f64;
    }
    counts
}

#[test]
fn the_expected_split_matches_what_units_get() {
    let cfg = config(&format!(
        "{BASE}\n[[holdouts]]\nname = \"h\"\npercent = 10\n\
         [[experiments]]\nname = \"a\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v2\"]\nweights = [1, 3]\ntraffic = 20\nlayer = \"L\"\nprimary = \"conversion\"\n\
         [[experiments]]\nname = \"b\"\nmodel = \"recs\"\nvariants = [\"v1\", \"v3\"]\ntraffic = 10\nlayer = \"L\"\nprimary = \"conversion\"\n\
         [[experiments]]\nname = \"c\"\nmodel = \"recs\"\nvariants = [\"v2\", \"v3\"]\ntraffic = 15\nprimary = \"conversion\"\n\
         [[rollouts]]\nname = \"r\"\nmodel = \"recs\"\nbaseline = \"v1\"\ncandidate = \"v2\"\nstages = [{{ traffic = 20 }}, {{ traffic = 100 }}]\n"
    ));
    let (mut state, _) = live(&cfg, &[]);
    with_rollout_traffic(&mut state, "r", 20.0);
    let a = Assigner::new(&cfg, &state);
    let expected = a.expected_split("recs").expect("known model");
    assert!((expected.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-12);
    let observed = observed_split(&a, 200_000);
    assert_eq!(
        observed.len(),
        expected.len(),
        "the same slices: {observed:?} vs {expected:?}"
    );
    for s in &expected {
        let key = (s.reason, s.entity.clone(), s.variant.clone());
        let got = observed.get(&key).copied().unwrap_or(0.0);
        // 200,000 units: a share's standard error is at most 0.0012.
        assert!(
            (got - s.share).abs() < 0.005,
            "{key:?}: expected {}, observed {got}",
            s.share
        );
    }
    // 10% held out; then 30% of the rest in layer L, 15% of what is left in c; the rollout
    // takes 20% candidate and 20% control of the remainder.
    let share = |reason, variant: &str| -> f64 {
        expected
            .iter()
            .filter(|s| s.reason == reason && s.variant == variant)
            .map(|s| s.share)
            .sum()
    };
    let after_experiments = 0.9 * 0.7 * 0.85;
    assert!((share(Reason::Holdout, "v1") - 0.1).abs() < 1e-12);
    assert!((share(Reason::Candidate, "v2") - after_experiments * 0.2).abs() < 1e-12);
    assert!((share(Reason::Control, "v1") - after_experiments * 0.2).abs() < 1e-12);

    let status = |st: RolloutStatus| {
        let mut s = state.clone();
        s.rollouts.get_mut("r").expect("rollout").status = st;
        Assigner::new(&cfg, &s)
            .expected_split("recs")
            .expect("known model")
    };
    let done = status(RolloutStatus::Completed);
    let last = done.last().expect("slices");
    assert_eq!(
        (last.reason, last.variant.as_str()),
        (Reason::Completed, "v2")
    );
    assert!((last.share - after_experiments).abs() < 1e-12);
    let back = status(RolloutStatus::RolledBack);
    assert_eq!(back.last().map(|s| s.reason), Some(Reason::RolledBack));
    assert!(a.expected_split("nope").is_none());
}
