//! Interleaving experiments from records to verdicts: impressions and clicks folded by the real
//! aggregator into per-unit preferences (values checked by hand), the preference analysis checked
//! against direct `rampart-stats` calls, and the stopping rules on that analysis.

use rampart_core::config::{self, Attributes, Config, Format};
use rampart_core::evidence::{Aggregator, InterleavingEvidence, PairEvidence};
use rampart_core::experiment::{
    analyze, analyze_pair, decide, unit_scores, Verdict, BOOTSTRAP_RESAMPLES,
};
use rampart_core::interleave::{self, Impression, Item, Method};
use rampart_core::{ImpressionRecord, OutcomeEvent, Record};
use rampart_stats::{binomial_test, Alternative, Bootstrap, Rng};

const T0: i64 = 1_700_000_000_000;

/// Model `search` with variants a, b, c; a `click` count metric; experiment `rank` with the
/// given design, variants and stopping rule.
fn config(design: &str, variants: &str, stopping: &str) -> Config {
    let text = format!(
        r#"
[[models]]
name = "search"
variants = [{{ name = "a" }}, {{ name = "b" }}, {{ name = "c" }}]

[[metrics]]
name = "clicks"
kind = "count"
event = "click"

[[experiments]]
name = "rank"
model = "search"
design = "{design}"
variants = {variants}
primary = "clicks"
stopping = {stopping}
"#
    );
    config::load_str(&text, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn team_draft() -> Config {
    config("team-draft", r#"["a", "b"]"#, "{ rule = \"sequential\" }")
}

fn ids(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

/// A team-method impression whose items are `(id, team)`; the rankings are the teams' items.
fn teams(
    id: &str,
    unit: &str,
    method: Method,
    items: &[(&str, usize)],
    variants: &[&str],
) -> Record {
    let mut rankings = vec![Vec::new(); variants.len()];
    for (item, team) in items {
        rankings[*team].push(item.to_string());
    }
    Record::Impression(ImpressionRecord {
        ts: T0,
        model: "search".into(),
        experiment: "rank".into(),
        unit: unit.into(),
        impression_id: id.into(),
        impression: Impression {
            method,
            rankings,
            items: items
                .iter()
                .map(|(i, t)| Item {
                    id: i.to_string(),
                    team: Some(*t),
                })
                .collect(),
        },
        variants: ids(variants),
    })
}

fn click(n: u32, unit: &str, impression: &str, item: &str) -> Record {
    event(n, "click", unit, impression, item)
}

fn event(n: u32, kind: &str, unit: &str, impression: &str, item: &str) -> Record {
    let mut attributes = Attributes::new();
    attributes.insert("impression_id".into(), impression.into());
    attributes.insert("item".into(), item.into());
    Record::Event(OutcomeEvent {
        id: format!("e{n}"),
        kind: kind.into(),
        unit: unit.into(),
        model: "search".into(),
        value: None,
        ts: T0 + 1,
        attributes,
    })
}

fn fold_all(config: &Config, records: &[Record]) -> Aggregator {
    let mut agg = Aggregator::new(config);
    for r in records {
        agg.fold(r);
    }
    agg
}

fn interleaving(agg: &Aggregator) -> InterleavingEvidence {
    agg.evidence("rank")
        .and_then(|e| e.interleaving)
        .expect("an interleaving experiment has an interleaving section")
}

fn pair(first: u64, second: u64, tied: u64) -> PairEvidence {
    PairEvidence {
        first: "a".into(),
        second: "b".into(),
        prefer_first: first,
        prefer_second: second,
        tied,
        preference_sum: 0.0,
    }
}

#[test]
fn team_draft_clicks_are_credited_per_impression_and_summed_per_unit() {
    let td = Method::TeamDraft;
    let ab = ["a", "b"];
    let records = vec![
        teams("i1", "u1", td, &[("x", 0), ("y", 1), ("z", 0)], &ab),
        teams("i2", "u1", td, &[("p", 0), ("q", 1)], &ab),
        // Listed as (b, a): team 0 is variant b.
        teams("i3", "u2", td, &[("x", 0), ("w", 1)], &["b", "a"]),
        teams("i4", "u3", td, &[("x", 0), ("y", 1)], &ab),
        click(1, "u1", "i1", "y"),    // b wins i1
        click(2, "u1", "i2", "p"),    // a wins i2: u1 ties
        click(3, "u2", "i3", "w"),    // w is a's: a wins i3
        click(4, "u2", "i3", "w"),    // the same item again: no change
        click(5, "u2", "i3", "nope"), // not shown
        click(6, "u2", "unknown", "w"),
        click(7, "u1", "i3", "x"),             // another unit's impression
        event(8, "purchase", "u3", "i4", "x"), // not the click type
    ];
    let ev = interleaving(&fold_all(&team_draft(), &records));
    assert_eq!(ev.method, Method::TeamDraft);
    assert_eq!(ev.click_event.as_deref(), Some("click"));
    assert_eq!((ev.units, ev.impressions), (3, 4));
    assert_eq!(ev.clicks, 4);
    assert_eq!(ev.unmatched_clicks, 3);
    assert_eq!(ev.impression_wins, vec![2, 1]);
    assert_eq!(ev.impression_ties, 1);
    assert_eq!(ev.units_preferring, vec![1, 0]);
    assert_eq!(ev.tied_units, 2);
    let p = &ev.pairs[0];
    assert_eq!((p.first.as_str(), p.second.as_str()), ("a", "b"));
    assert_eq!((p.prefer_first, p.prefer_second, p.tied), (1, 0, 2));
    assert_eq!(p.preference_sum, 1.0);

    // A later click turns u3 to b, and a second one on a's item ties it again.
    let mut more = records.clone();
    more.push(click(9, "u3", "i4", "y"));
    let ev = interleaving(&fold_all(&team_draft(), &more));
    assert_eq!(
        (ev.pairs[0].prefer_first, ev.pairs[0].prefer_second),
        (1, 1)
    );
    assert_eq!(ev.impression_wins, vec![2, 2]);
    more.push(click(10, "u3", "i4", "x"));
    let ev = interleaving(&fold_all(&team_draft(), &more));
    assert_eq!((ev.pairs[0].prefer_first, ev.pairs[0].tied), (1, 2));
    assert_eq!(ev.impression_ties, 1);
    assert_eq!(ev.pairs[0].preference_sum, 1.0);
}

#[test]
fn impressions_that_cannot_be_credited_are_counted_and_left_out() {
    let td = Method::TeamDraft;
    let records = vec![
        teams("i1", "u1", td, &[("x", 0), ("y", 1)], &["a", "c"]),
        teams(
            "i2",
            "u1",
            Method::Balanced,
            &[("x", 0), ("y", 1)],
            &["a", "b"],
        ),
        teams("i3", "u1", td, &[("x", 0), ("y", 1)], &["a", "b"]),
        teams("i3", "u2", td, &[("x", 0), ("y", 1)], &["a", "b"]),
    ];
    let ev = interleaving(&fold_all(&team_draft(), &records));
    assert_eq!(ev.invalid_impressions, 3);
    assert_eq!((ev.units, ev.impressions), (1, 1));
}

#[test]
fn probabilistic_credit_is_the_expected_preference() {
    let cfg = config(
        "probabilistic",
        r#"["a", "b"]"#,
        "{ rule = \"sequential\" }",
    );
    let rankings = vec![
        ids(&["d1", "d2", "d3", "d4"]),
        ids(&["d4", "d3", "d2", "d1"]),
    ];
    let mut rng = Rng::new(11);
    let method = Method::Probabilistic { tau: 3.0 };
    let imp = interleave::interleave(method, &rankings, 4, &mut rng).unwrap();
    let clicked = imp.items[1].id.clone();
    let want = interleave::credit(&imp, &[clicked.as_str()]).unwrap();
    let records = vec![
        Record::Impression(ImpressionRecord {
            ts: T0,
            model: "search".into(),
            experiment: "rank".into(),
            unit: "u1".into(),
            impression_id: "i1".into(),
            impression: imp,
            variants: ids(&["a", "b"]),
        }),
        click(1, "u1", "i1", &clicked),
    ];
    let ev = interleaving(&fold_all(&cfg, &records));
    let p = &ev.pairs[0];
    assert_eq!(p.preference_sum, want.preference[0][1]);
    assert!(want.preference[0][1] != 0.0);
    let a_wins = want.preference[0][1] > 0.0;
    assert_eq!(p.prefer_first, u64::from(a_wins));
    assert_eq!(p.prefer_second, u64::from(!a_wins));
}

#[test]
fn multileaving_keeps_every_pair() {
    let cfg = config(
        "team-draft-multileave",
        r#"["a", "b", "c"]"#,
        "{ rule = \"sequential\" }",
    );
    let m = Method::TeamDraftMultileave;
    let abc = ["a", "b", "c"];
    let items = [("x", 0), ("y", 1), ("z", 2)];
    let records = vec![
        teams("i1", "u1", m, &items, &abc),
        teams("i2", "u2", m, &items, &abc),
        click(1, "u1", "i1", "x"), // a beats b and c; b ties c
        click(2, "u2", "i2", "y"),
        click(3, "u2", "i2", "z"), // b and c beat a; b ties c
    ];
    let ev = interleaving(&fold_all(&cfg, &records));
    let names: Vec<(&str, &str)> = ev
        .pairs
        .iter()
        .map(|p| (p.first.as_str(), p.second.as_str()))
        .collect();
    assert_eq!(names, [("a", "b"), ("a", "c"), ("b", "c")]);
    let counts: Vec<(u64, u64, u64)> = ev
        .pairs
        .iter()
        .map(|p| (p.prefer_first, p.prefer_second, p.tied))
        .collect();
    assert_eq!(counts, [(1, 1, 0), (1, 1, 0), (0, 0, 2)]);
    assert_eq!(ev.units_preferring, vec![1, 0, 0]);
    assert_eq!(ev.tied_units, 1);
    assert_eq!(ev.impression_wins, vec![1, 0, 0]);
    assert_eq!(ev.impression_ties, 1);
}

#[test]
fn folding_the_same_records_again_gives_the_same_evidence() {
    let td = Method::TeamDraft;
    let mut rng = Rng::new(5);
    let mut records = Vec::new();
    for i in 0..300 {
        let unit = format!("u{}", i % 40);
        let id = format!("i{i}");
        let a_first = rng.bernoulli(0.5);
        let items: Vec<(&str, usize)> = if a_first {
            vec![("x", 0), ("y", 1)]
        } else {
            vec![("y", 1), ("x", 0)]
        };
        records.push(teams(&id, &unit, td, &items, &["a", "b"]));
        if rng.bernoulli(0.7) {
            let item = if rng.bernoulli(0.65) { "x" } else { "y" };
            records.push(click(i, &unit, &id, item));
        }
    }
    let cfg = team_draft();
    let once = fold_all(&cfg, &records).evidence("rank");
    let again = fold_all(&cfg, &records).evidence("rank");
    assert_eq!(once, again);
    // A reconfiguration with the same definition keeps the state.
    let mut agg = fold_all(&cfg, &records);
    assert!(agg.reconfigure(&cfg).is_empty());
    assert_eq!(agg.evidence("rank"), once);
    let ev = once.and_then(|e| e.interleaving).unwrap();
    assert_eq!(ev.units, 40);
    let p = &ev.pairs[0];
    assert_eq!(p.prefer_first + p.prefer_second + p.tied, 40);
    assert_eq!(ev.units_preferring.iter().sum::<u64>() + ev.tied_units, 40);
}

#[test]
fn the_preference_analysis_matches_direct_statistics_calls() {
    let counts = pair(60, 25, 15);
    let seed = 42;
    let p = analyze_pair(&counts, 0.05, None, seed);
    let n = 100.0;
    let delta = (60.0 + 15.0 / 2.0) / n - 0.5;
    assert!((p.delta.unwrap() - delta).abs() < 1e-15);
    assert_eq!(p.preferred.as_deref(), Some("a"));

    // The interval is the bootstrap of the per-unit scores, built here independently.
    let mut scores = vec![0.5; 60];
    scores.extend(vec![-0.5; 25]);
    scores.extend(vec![0.0; 15]);
    let mut sorted = unit_scores(&counts);
    sorted.sort_by(f64::total_cmp);
    let mut mine = scores.clone();
    mine.sort_by(f64::total_cmp);
    assert_eq!(sorted, mine);
    let b = Bootstrap::new(BOOTSTRAP_RESAMPLES, 0.05, seed)
        .mean(&unit_scores(&counts))
        .unwrap();
    let interval = p.interval.unwrap();
    assert_eq!((interval.lower, interval.upper), (b.lower, b.upper));
    assert!(interval.lower > 0.0 && interval.lower < delta && delta < interval.upper);

    let sign = binomial_test(60, 85, 0.5, Alternative::TwoSided).unwrap();
    assert_eq!(p.sign_test_p_value, Some(sign.p_value));
    assert!(sign.p_value < 0.001);

    // The always-valid interval is wider than the bootstrap one and its p-value larger.
    let av = p.always_valid_interval.unwrap();
    assert!(av.lower < interval.lower && av.upper > interval.upper);
    assert!(p.always_valid_p_value.unwrap() > sign.p_value);

    // Mirrored counts mirror everything.
    let q = analyze_pair(&pair(25, 60, 15), 0.05, None, seed);
    assert!((q.delta.unwrap() + delta).abs() < 1e-15);
    assert_eq!(q.preferred.as_deref(), Some("b"));
    assert_eq!(q.sign_test_p_value, p.sign_test_p_value);
    let (pa, qa) = (
        p.always_valid_p_value.unwrap(),
        q.always_valid_p_value.unwrap(),
    );
    assert!((pa - qa).abs() < 1e-12 * pa, "{pa} vs {qa}");
}

/// Evidence in which `prefer_a` units click a's item, `prefer_b` b's, and `tied` none.
fn preferences(cfg: &Config, prefer_a: u32, prefer_b: u32, tied: u32) -> Aggregator {
    let mut records = Vec::new();
    let mut n = 0;
    for (count, item) in [(prefer_a, Some("x")), (prefer_b, Some("y")), (tied, None)] {
        for _ in 0..count {
            n += 1;
            let (unit, id) = (format!("u{n}"), format!("i{n}"));
            records.push(teams(
                &id,
                &unit,
                Method::TeamDraft,
                &[("x", 0), ("y", 1)],
                &["a", "b"],
            ));
            if let Some(item) = item {
                records.push(click(n, &unit, &id, item));
            }
        }
    }
    fold_all(cfg, &records)
}

#[test]
fn the_report_and_the_sequential_rule_read_the_preferences() {
    let cfg = team_draft();
    let experiment = cfg.experiment("rank").unwrap();
    let agg = preferences(&cfg, 70, 30, 20);
    let evidence = agg.evidence("rank").unwrap();
    let report = analyze(experiment, &cfg, &evidence, T0);
    let il = report
        .interleaving
        .as_ref()
        .expect("an interleaving report");
    assert_eq!((il.units, il.impressions, il.clicks), (120, 120, 100));
    let p = &il.pairs[0];
    assert_eq!((p.prefer_first, p.prefer_second, p.tied), (70, 30, 20));
    assert!((p.delta.unwrap() - (80.0 / 120.0 - 0.5)).abs() < 1e-15);
    let sign = binomial_test(70, 100, 0.5, Alternative::TwoSided).unwrap();
    assert_eq!(p.sign_test_p_value, Some(sign.p_value));
    // One pair: adjusting changes nothing.
    assert_eq!(p.adjusted_p_value, p.sign_test_p_value);
    let av = p.always_valid_p_value.unwrap();
    assert!(av < 0.05, "{av}");
    assert_eq!(
        decide(&report, experiment, T0, T0),
        Verdict::Winner {
            variant: "a".into()
        }
    );

    // b preferred: b wins although it is not the control.
    let report = analyze(
        experiment,
        &cfg,
        &preferences(&cfg, 30, 70, 20).evidence("rank").unwrap(),
        T0,
    );
    assert_eq!(
        decide(&report, experiment, T0, T0),
        Verdict::Winner {
            variant: "b".into()
        }
    );

    // Balanced preferences keep it running.
    let report = analyze(
        experiment,
        &cfg,
        &preferences(&cfg, 50, 50, 20).evidence("rank").unwrap(),
        T0,
    );
    assert!(matches!(
        decide(&report, experiment, T0, T0),
        Verdict::NotYet { .. }
    ));
}

#[test]
fn the_fixed_rule_waits_for_the_planned_units() {
    let cfg = config(
        "team-draft",
        r#"["a", "b"]"#,
        "{ rule = \"fixed\", mde = 0.1, alpha = 0.05, power = 0.8 }",
    );
    let experiment = cfg.experiment("rank").unwrap();
    // ((z_0.975 + z_0.8) / 0.2)² = 196.2 → 197 units.
    let z = rampart_stats::Normal::isf(0.025) + rampart_stats::Normal::quantile(0.8);
    let required = ((z / 0.2) * (z / 0.2)).ceil() as u64;
    assert_eq!(required, 197);

    let early = analyze(
        experiment,
        &cfg,
        &preferences(&cfg, 100, 40, 20).evidence("rank").unwrap(),
        T0,
    );
    let plan = early
        .interleaving
        .as_ref()
        .unwrap()
        .sample_size
        .clone()
        .unwrap();
    assert_eq!((plan.required_units, plan.observed_units), (required, 160));
    assert!(!plan.reached);
    match decide(&early, experiment, T0, T0) {
        Verdict::NotYet { reason } => assert!(reason.contains("160/197"), "{reason}"),
        other => panic!("nothing is decided before the sample, got {other:?}"),
    }

    let reached = analyze(
        experiment,
        &cfg,
        &preferences(&cfg, 120, 60, 20).evidence("rank").unwrap(),
        T0,
    );
    assert_eq!(
        decide(&reached, experiment, T0, T0),
        Verdict::Winner {
            variant: "a".into()
        }
    );
    let even = analyze(
        experiment,
        &cfg,
        &preferences(&cfg, 90, 90, 20).evidence("rank").unwrap(),
        T0,
    );
    assert_eq!(decide(&even, experiment, T0, T0), Verdict::NoDifference);
}

#[test]
fn a_multileave_winner_beats_every_other_variant() {
    let cfg = config(
        "team-draft-multileave",
        r#"["a", "b", "c"]"#,
        "{ rule = \"sequential\" }",
    );
    let experiment = cfg.experiment("rank").unwrap();
    let m = Method::TeamDraftMultileave;
    let abc = ["a", "b", "c"];
    let items = [("x", 0), ("y", 1), ("z", 2)];
    let mut records = Vec::new();
    // 80 units click c's item, 20 click a's.
    for n in 0..100u32 {
        let (unit, id) = (format!("u{n}"), format!("i{n}"));
        records.push(teams(&id, &unit, m, &items, &abc));
        records.push(click(n, &unit, &id, if n < 80 { "z" } else { "x" }));
    }
    let report = analyze(
        experiment,
        &cfg,
        &fold_all(&cfg, &records).evidence("rank").unwrap(),
        T0,
    );
    let il = report.interleaving.as_ref().unwrap();
    assert_eq!(il.pairs.len(), 3);
    let bc = il.pair("b", "c").unwrap();
    assert_eq!((bc.prefer_first, bc.prefer_second, bc.tied), (0, 80, 20));
    // Holm across the three pairs: the adjusted p is at least the raw one.
    for p in &il.pairs {
        assert!(p.adjusted_always_valid_p_value >= p.always_valid_p_value);
    }
    assert_eq!(
        decide(&report, experiment, T0, T0),
        Verdict::Winner {
            variant: "c".into()
        }
    );
}
