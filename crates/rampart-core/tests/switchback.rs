//! Switchback experiments: the schedule of windows (every block holds each variant once), the
//! assignment (one variant per window for every unit), and the window-level analysis checked
//! against window means computed directly from the generated outcomes.

use std::collections::BTreeMap;

use rampart_core::assign::{switchback_order, switchback_variant, switchback_window};
use rampart_core::config::{load_str, Format};
use rampart_core::evidence::Aggregator;
use rampart_core::experiment::analyze;
use rampart_core::state::reconcile;
use rampart_core::{Assigner, Config, EntityKind, Exposure, Millis, OutcomeEvent, Reason, Record};
use rampart_stats::StudentT;

const H: Millis = 3_600_000;

fn config(bucket: &str, extra: &str) -> Config {
    let text = format!(
        r#"
[server]
evidence_bucket = "{bucket}"

[[models]]
name = "pricing"
unit = "request"
variants = [{{ name = "p1" }}, {{ name = "p2" }}, {{ name = "p3" }}]

[[metrics]]
name = "revenue"
kind = "sum"
event = "order"

[[metrics]]
name = "conversion"
kind = "binary"
event = "order"

[[experiments]]
name = "alternate"
model = "pricing"
design = "switchback"
variants = ["p1", "p2"]
window = "1h"
primary = "revenue"
secondary = ["conversion"]
{extra}
"#
    );
    load_str(&text, Format::Toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn assigner(config: &Config) -> (Assigner, u64) {
    let r = reconcile(config, &[], 0, &mut || 0x5EED).expect("reconciles");
    let salt = r.state.salt(EntityKind::Experiment, "alternate");
    (Assigner::new(config, &r.state), salt)
}

#[test]
fn every_block_holds_each_variant_once() {
    for salt in [0u64, 7, 0xDEAD_BEEF, u64::MAX] {
        for n in 2..=5usize {
            let mut orders = std::collections::BTreeSet::new();
            for block in -3..60i64 {
                let order = switchback_order(salt, n, block);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(
                    sorted,
                    (0..n).collect::<Vec<_>>(),
                    "salt {salt} block {block}"
                );
                // The order is the windows' variants, window by window.
                for (p, &v) in order.iter().enumerate() {
                    assert_eq!(switchback_variant(salt, n, block * n as i64 + p as i64), v);
                }
                orders.insert(order);
            }
            // Seeded by block: over 63 blocks the order is not always the same.
            assert!(
                orders.len() > 1,
                "salt {salt}, {n} variants: one order only"
            );
        }
    }
    assert_eq!(switchback_window(H as u64, 0), 0);
    assert_eq!(switchback_window(H as u64, H - 1), 0);
    assert_eq!(switchback_window(H as u64, H), 1);
    assert_eq!(switchback_window(H as u64, -1), -1);
}

#[test]
fn a_window_gives_every_unit_the_same_variant() {
    let c = config("15m", "traffic = 50");
    let (a, salt) = assigner(&c);
    let mut seen_per_block = BTreeMap::new();
    for window in 0..8i64 {
        let expected = ["p1", "p2"][switchback_variant(salt, 2, window)];
        let mut inside = 0;
        for (i, at) in [0, 1, H / 2, H - 1].into_iter().enumerate() {
            for u in 0..500 {
                let unit = format!("r{window}-{i}-{u}");
                let got = a
                    .assign("pricing", &unit, None, window * H + at)
                    .expect("assigns");
                if got.reason == Reason::Experiment {
                    inside += 1;
                    assert_eq!(got.variant, expected, "window {window}, unit {unit}");
                    assert_eq!(got.entity, Some((EntityKind::Experiment, "alternate")));
                } else {
                    assert_eq!(got.reason, Reason::Default);
                    assert_eq!(got.variant, "p1");
                }
            }
        }
        // Half the traffic is in the experiment.
        assert!((800..1200).contains(&inside), "{inside} of 2000 inside");
        seen_per_block
            .entry(window / 2)
            .or_insert_with(Vec::new)
            .push(expected);
    }
    for (block, mut seen) in seen_per_block {
        seen.sort_unstable();
        assert_eq!(seen, ["p1", "p2"], "block {block}");
    }
}

/// A deterministic stream of numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Window means of a sample, as Welch's test sees them: (n, mean, variance).
fn moments(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (n, mean, var)
}

#[test]
fn the_analysis_compares_window_means() {
    let c = config("15m", "");
    let (a, salt) = assigner(&c);
    let mut agg = Aggregator::new(&c);
    let mut rng = Lcg(42);
    // Per window: (variant, Σ revenue, Σ converted, units first exposed).
    let mut direct: Vec<(String, f64, f64, f64)> = Vec::new();
    let windows = 12i64;
    let mut next = 0u64;
    // The last window (index `windows`) is not complete at `now` and must not count.
    for w in 0..=windows {
        let units = 20 + (rng.next() * 20.0) as u64;
        let variant = ["p1", "p2"][switchback_variant(salt, 2, w)];
        let (mut revenue, mut converted) = (0.0, 0.0);
        for _ in 0..units {
            let unit = format!("r{next}");
            next += 1;
            let ts = w * H + (rng.next() * (H - 60_000) as f64) as Millis;
            let got = a.assign("pricing", &unit, None, ts).expect("assigns");
            assert_eq!(got.variant, variant);
            agg.fold(&Record::Exposure(Exposure {
                ts,
                model: "pricing".into(),
                unit: unit.clone(),
                variant: got.variant.to_string(),
                reason: got.reason,
                entity: got.entity.map(|(k, n)| (k, n.to_string())),
                assignment_id: next,
                segments: BTreeMap::new(),
            }));
            let p = if variant == "p2" { 0.6 } else { 0.4 };
            if rng.next() < p {
                let value = 10.0 + 20.0 * rng.next() + if variant == "p2" { 5.0 } else { 0.0 };
                agg.fold(&Record::Event(OutcomeEvent {
                    id: format!("e{next}"),
                    kind: "order".into(),
                    unit,
                    model: "pricing".into(),
                    value: Some(value),
                    ts: ts + 30_000,
                    attributes: BTreeMap::new(),
                }));
                revenue += value;
                converted += 1.0;
            }
        }
        if w < windows {
            direct.push((variant.to_string(), revenue, converted, units as f64));
        }
    }
    let now = windows * H + H / 2;
    let evidence = agg.evidence("alternate").expect("evidence");
    let e = c.experiment("alternate").expect("configured");
    let report = analyze(e, &c, &evidence, now);

    let summary = report.switchback.as_ref().expect("a switchback summary");
    assert_eq!(summary.window_ms, H as u64);
    assert_eq!(summary.observations.len(), windows as usize);
    assert_eq!(summary.unattributed_windows, 0);
    let count = |v: &str| direct.iter().filter(|d| d.0 == v).count() as u64;
    assert_eq!(summary.windows[0].variant, "p1");
    assert_eq!(summary.windows[0].windows, count("p1"));
    assert_eq!(summary.windows[1].windows, count("p2"));
    assert_eq!(count("p1") + count("p2"), windows as u64);
    for (o, d) in summary.observations.iter().zip(&direct) {
        assert_eq!(o.variant, d.0);
        assert_eq!(o.units as f64, d.3);
        assert!((o.values["revenue"] - d.1 / d.3).abs() < 1e-9);
        assert!((o.values["conversion"] - d.2 / d.3).abs() < 1e-12);
    }

    for (metric, pick) in [("revenue", 1usize), ("conversion", 2)] {
        let of = |v: &str| -> Vec<f64> {
            direct
                .iter()
                .filter(|d| d.0 == v)
                .map(|d| if pick == 1 { d.1 / d.3 } else { d.2 / d.3 })
                .collect()
        };
        let (n1, m1, v1) = moments(&of("p1"));
        let (n2, m2, v2) = moments(&of("p2"));
        let se2 = v1 / n1 + v2 / n2;
        let t = (m2 - m1) / se2.sqrt();
        let df = se2 * se2 / ((v1 / n1).powi(2) / (n1 - 1.0) + (v2 / n2).powi(2) / (n2 - 1.0));
        let p = 2.0 * (1.0 - StudentT::new(df).expect("df > 0").cdf(t.abs()));

        let cmp = report.comparison(metric, "p2").expect("compared");
        assert_eq!(cmp.control_n, n1 as u64, "{metric}: n counts windows");
        assert_eq!(cmp.variant_n, n2 as u64);
        assert!(
            (cmp.control_value.expect("value") - m1).abs() < 1e-9,
            "{metric}"
        );
        assert!(
            (cmp.variant_value.expect("value") - m2).abs() < 1e-9,
            "{metric}"
        );
        let lift = cmp.absolute_lift.expect("lift");
        assert!((lift.estimate - (m2 - m1)).abs() < 1e-9);
        let got = cmp.p_value.expect("p-value");
        assert!(
            (got - p).abs() < 1e-6 * p.max(1e-3),
            "{metric}: p {got} vs {p}"
        );
        assert!(cmp.always_valid_p_value.is_some());
    }
    // The kind shown is the metric's own, though windows are compared as continuous values.
    let conv = report.comparison("conversion", "p2").expect("compared");
    assert_eq!(conv.kind, Some(rampart_core::config::MetricKind::Binary));
    assert!(report.segments.is_empty());
    assert!(report.srm.message.starts_with("not applicable"));
}

#[test]
fn buckets_that_do_not_divide_the_window_are_named() {
    let c = config("25m", "");
    let (_, _) = assigner(&c);
    let agg = Aggregator::new(&c);
    let evidence = agg.evidence("alternate").expect("evidence");
    let e = c.experiment("alternate").expect("configured");
    let report = analyze(e, &c, &evidence, 10 * H);
    let summary = report.switchback.as_ref().expect("a switchback summary");
    let why = summary.not_enough_data.as_deref().unwrap_or_default();
    assert!(why.contains("25m"), "{why}");
    assert!(why.contains("server.evidence_bucket"), "{why}");
    assert!(summary.observations.is_empty());
    let cmp = report.comparison("revenue", "p2").expect("listed");
    assert!(cmp.p_value.is_none());
    assert!(cmp.not_enough_data.is_some());
}

#[test]
fn window_is_validated() {
    let bad = |extra: &str, design: &str| {
        let text = format!(
            r#"
[[models]]
name = "m"
variants = [{{ name = "a" }}, {{ name = "b" }}]

[[metrics]]
name = "x"
kind = "count"
event = "e"

[[experiments]]
name = "e"
model = "m"
design = "{design}"
variants = ["a", "b"]
primary = "x"
{extra}
"#
        );
        load_str(&text, Format::Toml, "t.toml")
            .err()
            .map(|e| e.to_string())
    };
    let zero = bad("window = \"0s\"", "switchback").expect("refused");
    assert!(zero.contains("experiments[0].window"), "{zero}");
    assert!(zero.contains("longer than 0"), "{zero}");
    let split = bad("window = \"1h\"", "split").expect("refused");
    assert!(split.contains("only to design \"switchback\""), "{split}");
    assert_eq!(bad("window = \"30m\"", "switchback"), None);
    assert_eq!(bad("", "switchback"), None);
}
