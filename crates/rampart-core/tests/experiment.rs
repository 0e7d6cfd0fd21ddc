//! Tests of split-experiment analysis, stopping rules and lifecycle. Evidence is built by folding
//! exposures and outcome events through the real aggregator; expected numbers come from direct
//! `rampart-stats` calls on the same sufficient statistics.

use rampart_core::config::{self, Attributes, Config, Experiment, Format};
use rampart_core::evidence::{Aggregator, EntityEvidence, MetricStats};
use rampart_core::experiment::{
    analyze, check_preregistration, decide, look, step, Action, Command, Direction,
    ExperimentReport, IllegalCommand, Input, PreRegistration, Role, Verdict,
};
use rampart_core::state::{ExperimentState, ExperimentStatus};
use rampart_core::{EntityKind, Exposure, OutcomeEvent, Reason, Record};
use rampart_stats::{
    adjust_p_values, beta_binomial, cuped, cuped_theta, cuped_with_theta, proportion_effect_size,
    ratio, sample_ratio_mismatch, sample_size, two_proportions, welch, Alternative, AsymptoticCs,
    BetaPrior, Correction, Covariate, CupedArm, Moments, Msprt, PowerSpec, PowerTest, Proportion,
    RatioMoments, Rng, TestSpec,
};

const BASE: &str = r#"
segments = ["country"]

[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }, { name = "v3" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"

[[metrics]]
name = "revenue"
kind = "sum"
event = "purchase"

[[metrics]]
name = "errors"
kind = "binary"
event = "error"
goal = "decrease"

[[metrics]]
name = "ctr"
kind = "ratio"
numerator = "click"
denominator = "view"

[[rollouts]]
name = "ship"
model = "recs"
baseline = "v1"
candidate = "v2"
autostart = false
stages = [{ traffic = 10 }]
"#;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000;

/// A config whose one experiment `bakeoff` on model `recs` has the given extra TOML lines.
fn config(body: &str) -> Config {
    let text = format!("{BASE}\n[[experiments]]\nname = \"bakeoff\"\nmodel = \"recs\"\n{body}\n");
    config::load_str(&text, Format::Toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config is invalid: {e}"))
}

/// Folds units and their events into the experiment's evidence.
struct Traffic {
    config: Config,
    agg: Aggregator,
    next_unit: u64,
    ts: i64,
}

type Events = Vec<(&'static str, Option<f64>)>;

impl Traffic {
    fn new(config: Config) -> Traffic {
        let agg = Aggregator::new(&config);
        Traffic {
            config,
            agg,
            next_unit: 0,
            ts: T0,
        }
    }

    fn unit(&mut self, variant: &str, country: Option<&str>, events: Events) {
        self.unit_with_history(variant, country, Vec::new(), events);
    }

    /// A unit whose `pre` events are folded before its first exposure, `events` after it.
    fn unit_with_history(
        &mut self,
        variant: &str,
        country: Option<&str>,
        pre: Events,
        events: Events,
    ) {
        let unit = format!("u{}", self.next_unit);
        self.next_unit += 1;
        self.ts += 1;
        for (k, (kind, value)) in pre.into_iter().enumerate() {
            self.agg.fold(&Record::Event(OutcomeEvent {
                id: format!("{unit}-pre-{k}"),
                kind: kind.into(),
                unit: unit.clone(),
                model: "recs".into(),
                value,
                ts: self.ts - DAY,
                attributes: Attributes::new(),
            }));
        }
        let mut segments = Attributes::new();
        if let Some(c) = country {
            segments.insert("country".into(), c.into());
        }
        self.agg.fold(&Record::Exposure(Exposure {
            ts: self.ts,
            model: "recs".into(),
            unit: unit.clone(),
            variant: variant.into(),
            reason: Reason::Experiment,
            entity: Some((EntityKind::Experiment, "bakeoff".into())),
            assignment_id: 0,
            segments,
        }));
        for (k, (kind, value)) in events.into_iter().enumerate() {
            self.agg.fold(&Record::Event(OutcomeEvent {
                id: format!("{unit}-{k}"),
                kind: kind.into(),
                unit: unit.clone(),
                model: "recs".into(),
                value,
                ts: self.ts,
                attributes: Attributes::new(),
            }));
        }
    }

    /// Adds `n` units on `variant`; unit `i` of this call gets the events `events(i)`.
    fn units(
        &mut self,
        variant: &str,
        n: u64,
        country: Option<&str>,
        events: impl Fn(u64) -> Events,
    ) {
        for i in 0..n {
            self.unit(variant, country, events(i));
        }
    }

    fn evidence(&self) -> EntityEvidence {
        self.agg
            .evidence("bakeoff")
            .expect("the experiment has evidence")
    }

    fn experiment(&self) -> &Experiment {
        self.config.experiment("bakeoff").unwrap()
    }

    fn report(&self) -> ExperimentReport {
        analyze(self.experiment(), &self.config, &self.evidence(), self.ts)
    }

    fn stats(&self, variant: &str, metric: &str) -> MetricStats {
        self.evidence().variants[variant].metrics[metric].clone()
    }
}

/// Unit `i` of a group has the event for a deterministic exact share `rate` of the units.
fn hit(i: u64, rate: f64) -> bool {
    ((i + 1) as f64 * rate).floor() > (i as f64 * rate).floor()
}

/// Purchases (value 10 + i mod 7) at `rate` and errors at `errors`.
fn shop(rate: f64, errors: f64) -> impl Fn(u64) -> Events {
    move |i| {
        let mut out = Vec::new();
        if hit(i, rate) {
            out.push(("purchase", Some(10.0 + (i % 7) as f64)));
        }
        if hit(i, errors) {
            out.push(("error", None));
        }
        out
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(close(a, b), "{what}: {a} != {b}");
}

fn proportion(s: &MetricStats) -> Proportion {
    Proportion::new(s.n, s.sum.round() as u64)
}

/// The always-valid p-value the report documents: two-sided mSPRT on the absolute difference,
/// τ² = max((mde·|control|)², ρ²·V·n_eff), mde 5% when none is configured.
fn always_valid(
    estimate: f64,
    se: f64,
    control: f64,
    nc: u64,
    nt: u64,
    mde: f64,
    alpha: f64,
) -> (f64, f64, f64) {
    let v = se * se;
    let n = 2.0 * nc as f64 * nt as f64 / (nc + nt) as f64;
    let rho2 = AsymptoticCs::new(alpha, 5000.0, Alternative::TwoSided)
        .unwrap()
        .rho2();
    let tau2 = (mde * control).powi(2).max(rho2 * v * n);
    let look = Msprt::new(tau2, alpha, Alternative::TwoSided)
        .unwrap()
        .look(estimate, v, 0.0, None)
        .unwrap();
    (look.p_value, look.interval.lower, look.interval.upper)
}

const SPLIT3: &str = r#"variants = ["v1", "v2", "v3"]
primary = "conversion"
secondary = ["revenue", "ctr"]
guardrails = ["errors"]"#;

fn three_arms() -> Traffic {
    let mut t = Traffic::new(config(SPLIT3));
    let ctr = |clicks: u64| {
        move |i: u64| {
            let mut e = shop(0.1, 0.01)(i);
            for _ in 0..(2 + i % 3) {
                e.push(("view", None));
            }
            if i % 4 < clicks {
                e.push(("click", None));
            }
            e
        }
    };
    t.units("v1", 3_000, None, ctr(1));
    t.units("v2", 3_000, None, move |i| {
        let mut e = ctr(2)(i);
        if hit(i, 0.03) {
            e.push(("purchase", Some(12.0)));
        }
        e
    });
    t.units("v3", 2_900, None, shop(0.09, 0.01));
    t
}

#[test]
fn report_numbers_equal_direct_stats_calls() {
    let t = three_arms();
    let report = t.report();
    assert_eq!(report.control, "v1");
    assert_eq!(report.metrics.len(), 4 * 2);
    assert_eq!(
        report.arms.iter().map(|a| a.units).collect::<Vec<_>>(),
        vec![3_000, 3_000, 2_900]
    );
    let alpha = 0.05;
    let spec = TestSpec::two_sided(alpha);

    // Binary: two-proportion z-test, beta-binomial, mSPRT.
    let (c, v) = (t.stats("v1", "conversion"), t.stats("v2", "conversion"));
    let direct = two_proportions(&proportion(&c), &proportion(&v), spec).unwrap();
    let got = report.comparison("conversion", "v2").unwrap();
    assert_eq!(got.role, Role::Primary);
    assert_eq!((got.control_n, got.variant_n), (3_000, 3_000));
    assert_close(
        got.control_value.unwrap(),
        direct.control_mean,
        "control rate",
    );
    assert_close(
        got.variant_value.unwrap(),
        direct.treatment_mean,
        "variant rate",
    );
    let abs = got.absolute_lift.unwrap();
    assert_close(abs.estimate, direct.absolute.estimate, "absolute lift");
    assert_close(abs.lower, direct.absolute.interval.lower, "absolute lower");
    assert_close(abs.upper, direct.absolute.interval.upper, "absolute upper");
    let rel = got.relative_lift.unwrap();
    let direct_rel = direct.relative.unwrap();
    assert_close(rel.estimate, direct_rel.estimate, "relative lift");
    assert_close(rel.lower, direct_rel.interval.lower, "relative lower");
    assert_close(got.p_value.unwrap(), direct.absolute.p_value, "p-value");
    let (p_av, lo, hi) = always_valid(
        direct.absolute.estimate,
        direct.absolute.std_error,
        direct.control_mean,
        c.n,
        v.n,
        0.05,
        alpha,
    );
    assert_close(got.always_valid_p_value.unwrap(), p_av, "always-valid p");
    let cs = got.always_valid_lift.unwrap();
    assert_close(cs.lower, lo, "cs lower");
    assert_close(cs.upper, hi, "cs upper");
    // The confidence sequence is wider than the fixed-horizon interval.
    assert!(cs.lower < abs.lower && cs.upper > abs.upper);
    let bayes = beta_binomial(&proportion(&c), &proportion(&v), BetaPrior::default()).unwrap();
    assert_close(
        got.prob_beat_control.unwrap(),
        bayes.prob_treatment_better,
        "probability to beat control",
    );
    assert_eq!(got.direction, Some(Direction::Better));

    // Sum: Welch's t-test on the per-unit moments.
    let (c, v) = (t.stats("v1", "revenue"), t.stats("v3", "revenue"));
    let m = |s: &MetricStats| Moments::from_sums(s.n as f64, s.sum, s.sum_sq);
    let direct = welch(&m(&c), &m(&v), spec).unwrap();
    let got = report.comparison("revenue", "v3").unwrap();
    assert_eq!(got.role, Role::Secondary);
    assert_close(
        got.absolute_lift.unwrap().estimate,
        direct.absolute.estimate,
        "revenue lift",
    );
    assert_close(got.p_value.unwrap(), direct.absolute.p_value, "revenue p");
    assert_eq!(got.prob_beat_control, None);
    assert_eq!(got.direction, Some(Direction::Worse));

    // Ratio: delta method.
    let (c, v) = (t.stats("v1", "ctr"), t.stats("v2", "ctr"));
    let rm = |s: &MetricStats| {
        RatioMoments::from_sums(
            s.n as f64,
            s.sum,
            s.den_sum,
            s.sum_sq,
            s.den_sum_sq,
            s.cross,
        )
    };
    let direct = ratio(&rm(&c), &rm(&v), spec).unwrap();
    let got = report.comparison("ctr", "v2").unwrap();
    assert_close(got.control_value.unwrap(), c.sum / c.den_sum, "control ctr");
    assert_close(
        got.variant_value.unwrap(),
        direct.treatment_mean,
        "variant ctr",
    );
    assert_close(
        got.absolute_lift.unwrap().estimate,
        direct.absolute.estimate,
        "ctr lift",
    );
    assert_close(got.p_value.unwrap(), direct.absolute.p_value, "ctr p");
    let (p_av, _, _) = always_valid(
        direct.absolute.estimate,
        direct.absolute.std_error,
        direct.control_mean,
        c.n,
        v.n,
        0.05,
        alpha,
    );
    assert_close(
        got.always_valid_p_value.unwrap(),
        p_av,
        "ctr always-valid p",
    );

    // v3 sent no views: its ratio is undefined, said in words, never NaN.
    let got = report.comparison("ctr", "v3").unwrap();
    assert_eq!(got.p_value, None);
    assert_eq!(got.variant_value, None);
    let why = got.not_enough_data.as_deref().unwrap();
    assert!(why.contains("denominator"), "{why}");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
}

#[test]
fn holm_and_bh_adjust_across_variants_and_metrics() {
    for (name, method) in [
        ("holm", Correction::Holm),
        ("bh", Correction::BenjaminiHochberg),
    ] {
        let body = format!(
            "variants = [\"v1\", \"v2\", \"v3\"]\nprimary = \"conversion\"\nsecondary = [\"revenue\"]\nguardrails = [\"errors\"]\ncorrection = \"{name}\""
        );
        let mut t = Traffic::new(config(&body));
        t.units("v1", 2_000, None, shop(0.10, 0.02));
        t.units("v2", 2_000, None, shop(0.125, 0.015));
        t.units("v3", 2_000, None, shop(0.105, 0.03));
        let report = t.report();
        assert_eq!(report.metrics.len(), 6);
        let raw: Vec<f64> = report.metrics.iter().map(|c| c.p_value.unwrap()).collect();
        let expect = adjust_p_values(&raw, method).unwrap();
        let got: Vec<f64> = report
            .metrics
            .iter()
            .map(|c| c.adjusted_p_value.unwrap())
            .collect();
        for (g, e) in got.iter().zip(&expect) {
            assert_close(*g, *e, name);
        }
        let raw_av: Vec<f64> = report
            .metrics
            .iter()
            .map(|c| c.always_valid_p_value.unwrap())
            .collect();
        let expect_av = adjust_p_values(&raw_av, method).unwrap();
        for (c, e) in report.metrics.iter().zip(&expect_av) {
            assert_close(c.adjusted_always_valid_p_value.unwrap(), *e, name);
        }
        // The adjustment changes something: the smallest p-value grows by the family size under
        // Holm, and no adjusted p-value is below its raw one.
        let min = raw.iter().cloned().fold(f64::INFINITY, f64::min);
        let at = raw.iter().position(|&p| p == min).unwrap();
        if method == Correction::Holm {
            assert_close(got[at], (6.0 * min).min(1.0), "holm smallest");
        }
        assert!(got.iter().zip(&raw).all(|(a, r)| a >= r));
    }
}

#[test]
fn sample_ratio_mismatch_blocks_every_decision_but_max_duration() {
    let body = "variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\nstopping = { rule = \"sequential\", max_duration = \"7d\" }";
    let mut t = Traffic::new(config(body));
    // 55/45 of 20,000 units, with a huge effect that would otherwise win at once.
    t.units("v1", 11_000, None, shop(0.10, 0.0));
    t.units("v2", 9_000, None, shop(0.30, 0.0));
    let report = t.report();
    let direct = sample_ratio_mismatch(&[11_000, 9_000], &[0.5, 0.5]).unwrap();
    assert_close(report.srm.statistic.unwrap(), 200.0, "chi-square");
    assert_close(report.srm.p_value.unwrap(), direct.p_value, "srm p");
    assert!(report.srm.blocked);
    assert!(report.srm.message.contains("sample ratio mismatch"));
    let exp = t.experiment();
    let c = report.comparison("conversion", "v2").unwrap();
    assert!(
        c.adjusted_always_valid_p_value.unwrap() < 1e-6,
        "the effect is there"
    );
    match decide(&report, exp, T0, T0 + DAY) {
        Verdict::NotYet { reason } => assert!(reason.contains("sample ratio mismatch"), "{reason}"),
        other => panic!("SRM must block, got {other:?}"),
    }
    assert_eq!(decide(&report, exp, T0, T0 + 7 * DAY), Verdict::MaxDuration);

    // The same split is fine when the weights ask for it.
    let body = "variants = [\"v1\", \"v2\"]\nweights = [55, 45]\nprimary = \"conversion\"";
    let mut t = Traffic::new(config(body));
    t.units("v1", 11_000, None, shop(0.10, 0.0));
    t.units("v2", 9_000, None, shop(0.30, 0.0));
    let report = t.report();
    assert!(!report.srm.blocked);
    assert_close(report.srm.statistic.unwrap(), 0.0, "on the weights");
    assert_eq!(
        decide(&report, t.experiment(), T0, T0 + DAY),
        Verdict::Winner {
            variant: "v2".into()
        }
    );
}

const FIXED: &str = r#"variants = ["v1", "v2"]
primary = "conversion"
guardrails = ["errors"]
stopping = { rule = "fixed", mde = 0.2, alpha = 0.05, power = 0.8, max_duration = "30d" }"#;

/// Required units per arm for a two-sided z-test of `p` against `p·(1 + mde)`.
fn required(p: f64, mde: f64) -> u64 {
    let h = proportion_effect_size(p * (1.0 + mde), p).unwrap();
    sample_size(
        PowerTest::Z,
        h,
        0.8,
        &PowerSpec::new(0.05, Alternative::TwoSided, 1.0),
    )
    .unwrap()
    .ceil() as u64
}

#[test]
fn fixed_rule_waits_for_the_planned_sample_then_decides() {
    let mut t = Traffic::new(config(FIXED));
    t.units("v1", 1_000, None, shop(0.10, 0.0));
    t.units("v2", 1_000, None, shop(0.30, 0.0));
    let report = t.report();
    let plan = report
        .sample_size
        .as_ref()
        .expect("a fixed test has a plan");
    let need = required(0.10, 0.2);
    assert_eq!(plan.arms[0].required, Some(need));
    assert_eq!(plan.arms[1].required, Some(need));
    assert!(!plan.reached);
    assert_close(plan.progress, 1_000.0 / need as f64, "progress");
    let c = report.comparison("conversion", "v2").unwrap();
    assert!(c.adjusted_p_value.unwrap() < 1e-20, "a huge effect");
    match decide(&report, t.experiment(), T0, t.ts) {
        Verdict::NotYet { reason } => assert!(reason.contains("not reached"), "{reason}"),
        other => panic!("nothing is decided before the sample, got {other:?}"),
    }

    // The control up to its planned sample (the target follows the control's current rate).
    let mut control = 1_000;
    loop {
        let plan = t.report().sample_size.unwrap();
        let target = plan.arms[0].required.unwrap();
        if control >= target {
            break;
        }
        let from = control;
        t.units("v1", target - control, None, move |i| {
            shop(0.10, 0.0)(i + from)
        });
        control = target;
    }
    let rate = t.stats("v1", "conversion").sum / control as f64;
    let target = required(rate, 0.2);
    assert_eq!(
        t.report().sample_size.unwrap().arms[1].required,
        Some(target)
    );
    // The variant one unit short: still nothing is decided.
    t.units("v2", target - 1 - 1_000, None, move |i| {
        shop(0.30, 0.0)(i + 1_000)
    });
    let report = t.report();
    assert!(!report.sample_size.as_ref().unwrap().reached);
    assert!(!decide(&report, t.experiment(), T0, t.ts).stops());
    t.units("v2", 1, None, |_| vec![]);
    let report = t.report();
    let plan = report.sample_size.as_ref().unwrap();
    assert!(plan.reached);
    assert_eq!(plan.progress, 1.0);
    assert_eq!(
        decide(&report, t.experiment(), T0, t.ts),
        Verdict::Winner {
            variant: "v2".into()
        }
    );

    // At the sample with no effect: no difference.
    let mut t = Traffic::new(config(FIXED));
    t.units("v1", need + 50, None, shop(0.10, 0.0));
    t.units("v2", need + 50, None, shop(0.10, 0.0));
    let report = t.report();
    assert!(report.sample_size.as_ref().unwrap().reached);
    assert_eq!(
        decide(&report, t.experiment(), T0, t.ts),
        Verdict::NoDifference
    );
}

#[test]
fn sequential_rule_finds_the_better_variant_early_on_simulated_traffic() {
    let body = r#"variants = ["v1", "v2", "v3"]
primary = "conversion"
secondary = ["revenue"]
guardrails = ["errors"]
on_winner = { rollout = "ship" }
stopping = { rule = "sequential", alpha = 0.05, mde = 0.2, max_duration = "30d" }"#;
    let mut t = Traffic::new(config(body));
    let exp = t.experiment().clone();
    let mut rng = Rng::new(20_240_611);
    let rates = [("v1", 0.10), ("v2", 0.10), ("v3", 0.15)];
    let (state, _) = step(
        &exp,
        &draft(),
        Input::Command {
            command: Command::Start,
            actor: "alice",
            reason: "",
        },
        T0,
    )
    .unwrap();
    let budget = 3 * required(0.10, 0.2);
    let mut stopped = None;
    while t.next_unit < budget {
        for _ in 0..300 {
            let (variant, rate) = rates[rng.below(3) as usize];
            let mut events = Vec::new();
            if rng.bernoulli(rate) {
                events.push(("purchase", Some(5.0 + 20.0 * rng.uniform())));
            }
            if rng.bernoulli(0.01) {
                events.push(("error", None));
            }
            t.unit(variant, None, events);
        }
        let l = look(&exp, &t.config, &state, Some(&t.evidence()), t.ts);
        if l.next.status == ExperimentStatus::Stopped {
            stopped = Some((l, t.next_unit));
            break;
        }
        assert!(l.actions.is_empty());
    }
    let (l, units) = stopped.expect("the sequential rule stops before the budget");
    assert_eq!(
        l.verdict,
        Some(Verdict::Winner {
            variant: "v3".into()
        })
    );
    assert!(
        units < budget,
        "stopped after {units} units, a fixed test of the same mde needs {budget}"
    );
    assert_eq!(l.next.winner.as_deref(), Some("v3"));
    let report = l.report.unwrap();
    let c = report.comparison("conversion", "v3").unwrap();
    assert!(c.adjusted_always_valid_p_value.unwrap() < 0.05);
    assert_eq!(c.direction, Some(Direction::Better));
    let Action::Log(d) = &l.actions[0] else {
        panic!("a decision is logged first: {:?}", l.actions)
    };
    assert_eq!(d.entity_kind, EntityKind::Experiment);
    assert_eq!(d.action, "winner");
    assert!(
        d.reason.starts_with("winner: v3 beats v1 on conversion"),
        "{}",
        d.reason
    );
    assert_eq!(
        d.evidence["report"]["metrics"][1]["always_valid_p_value"],
        serde_json::json!(c.always_valid_p_value.unwrap())
    );
    assert_eq!(
        l.actions[1],
        Action::StartRollout {
            rollout: "ship".into(),
            experiment: "bakeoff".into(),
            candidate: "v3".into()
        }
    );
}

#[test]
fn guardrail_harm_stops_under_either_rule() {
    for rule in ["fixed", "sequential"] {
        let body = format!(
            "variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\nguardrails = [\"errors\"]\nstopping = {{ rule = \"{rule}\", mde = 0.05 }}"
        );
        let mut t = Traffic::new(config(&body));
        t.units("v1", 2_000, None, shop(0.10, 0.01));
        t.units("v2", 2_000, None, shop(0.10, 0.08));
        let report = t.report();
        let c = report.comparison("errors", "v2").unwrap();
        assert_eq!(c.role, Role::Guardrail);
        assert_eq!(c.direction, Some(Direction::Worse));
        assert_eq!(
            decide(&report, t.experiment(), T0, t.ts),
            Verdict::GuardrailBreach {
                variant: "v2".into(),
                metric: "errors".into()
            },
            "{rule}"
        );
        let verdict = decide(&report, t.experiment(), T0, t.ts);
        let (next, actions) = step(
            t.experiment(),
            &running(),
            Input::Tick {
                verdict: &verdict,
                report: &report,
            },
            t.ts,
        )
        .unwrap();
        assert_eq!(next.status, ExperimentStatus::Stopped);
        assert_eq!(next.winner, None);
        let Action::Log(d) = &actions[0] else {
            panic!()
        };
        assert_eq!(d.action, "guardrail-breach");
        assert!(
            d.reason.starts_with("guardrail breach: v2 harms errors"),
            "{}",
            d.reason
        );
    }
}

#[test]
fn max_duration_stops() {
    let body = "variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\nstopping = { rule = \"sequential\", max_duration = \"7d\" }";
    let mut t = Traffic::new(config(body));
    t.units("v1", 200, None, shop(0.10, 0.0));
    t.units("v2", 200, None, shop(0.11, 0.0));
    let report = t.report();
    let exp = t.experiment();
    assert!(!decide(&report, exp, T0, T0 + 7 * DAY - 1).stops());
    assert_eq!(decide(&report, exp, T0, T0 + 7 * DAY), Verdict::MaxDuration);
    let verdict = Verdict::MaxDuration;
    let (next, actions) = step(
        exp,
        &running(),
        Input::Tick {
            verdict: &verdict,
            report: &report,
        },
        T0 + 7 * DAY,
    )
    .unwrap();
    assert_eq!(next.status, ExperimentStatus::Stopped);
    assert_eq!(next.stopped_at, Some(T0 + 7 * DAY));
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert_eq!(d.action, "max-duration");
    assert_eq!(d.reason, "max duration 1w reached without a winner");
    assert_eq!(actions.len(), 1);

    // A fixed test without mde has no sample size: it runs until the maximum duration.
    let body = "variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\nstopping = { rule = \"fixed\", max_duration = \"7d\" }";
    let mut t = Traffic::new(config(body));
    t.units("v1", 5_000, None, shop(0.10, 0.0));
    t.units("v2", 5_000, None, shop(0.30, 0.0));
    let report = t.report();
    assert_eq!(report.sample_size, None);
    match decide(&report, t.experiment(), T0, T0 + DAY) {
        Verdict::NotYet { reason } => assert!(reason.contains("no sample size"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide(&report, t.experiment(), T0, T0 + 7 * DAY),
        Verdict::MaxDuration
    );
}

#[test]
fn a_segment_where_the_winner_is_worse_is_flagged() {
    let body =
        "variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\non_winner = { rollout = \"ship\" }";
    let mut t = Traffic::new(config(body));
    t.units("v1", 4_000, Some("us"), shop(0.10, 0.0));
    t.units("v2", 4_000, Some("us"), shop(0.30, 0.0));
    t.units("v1", 2_000, Some("fr"), shop(0.30, 0.0));
    t.units("v2", 2_000, Some("fr"), shop(0.05, 0.0));
    t.units("v1", 300, Some("de"), shop(0.10, 0.0));
    t.units("v2", 300, Some("de"), shop(0.10, 0.0));
    let report = t.report();
    assert_eq!(report.segments.len(), 3);
    assert_eq!(
        report
            .segments
            .iter()
            .map(|s| (s.value.as_str(), s.units.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("de", vec![300, 300]),
            ("fr", vec![2_000, 2_000]),
            ("us", vec![4_000, 4_000])
        ]
    );
    // BH across the three segment values of (conversion, v2).
    let raw: Vec<f64> = report
        .segments
        .iter()
        .map(|s| s.comparisons[0].always_valid_p_value.unwrap())
        .collect();
    let bh = adjust_p_values(&raw, Correction::BenjaminiHochberg).unwrap();
    for (s, e) in report.segments.iter().zip(&bh) {
        assert_close(
            s.comparisons[0].adjusted_always_valid_p_value.unwrap(),
            *e,
            "bh",
        );
    }
    assert_eq!(report.flags.len(), 1, "{:#?}", report.flags);
    let flag = &report.flags[0];
    assert_eq!(
        (flag.attribute.as_str(), flag.value.as_str()),
        ("country", "fr")
    );
    assert_eq!(
        (flag.variant.as_str(), flag.metric.as_str()),
        ("v2", "conversion")
    );
    assert!(flag.wins_overall);
    assert_close(flag.relative_lift.unwrap(), 0.05 / 0.30 - 1.0, "fr lift");

    let verdict = decide(&report, t.experiment(), T0, t.ts);
    assert_eq!(
        verdict,
        Verdict::Winner {
            variant: "v2".into()
        }
    );
    let (_, actions) = step(
        t.experiment(),
        &running(),
        Input::Tick {
            verdict: &verdict,
            report: &report,
        },
        t.ts,
    )
    .unwrap();
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert!(d.reason.contains("country=fr"), "{}", d.reason);
}

#[test]
fn no_data_gives_reasons_not_numbers() {
    let t = Traffic::new(config(SPLIT3));
    let report = t.report();
    assert_eq!(report.metrics.len(), 8);
    for c in &report.metrics {
        assert_eq!(c.p_value, None);
        assert_eq!(c.absolute_lift, None);
        let why = c.not_enough_data.as_deref().unwrap();
        assert!(why.contains("not enough data"), "{why}");
    }
    assert!(!report.srm.blocked);
    assert_eq!(report.srm.p_value, None);
    assert!(report.srm.message.contains("not enough data"));
    let verdict = decide(&report, t.experiment(), T0, T0);
    assert!(matches!(verdict, Verdict::NotYet { .. }));
    let empty = look(t.experiment(), &t.config, &running(), None, T0);
    assert_eq!(empty.next, running_with_plan(t.experiment()));
    assert!(empty.actions.is_empty());

    // Zero variance (nobody converts in either arm) is not enough data either.
    let mut t = Traffic::new(config(FIXED));
    t.units("v1", 500, None, |_| vec![]);
    t.units("v2", 500, None, |_| vec![]);
    let report = t.report();
    let c = report
        .comparison("conversion", "v1")
        .or(report.comparison("conversion", "v2"));
    assert!(c.unwrap().not_enough_data.is_some());
    let plan = report.sample_size.unwrap();
    assert!(plan.not_enough_data.unwrap().contains("cannot be sized"));
    assert!(!plan.reached);
}

fn draft() -> ExperimentState {
    ExperimentState {
        status: ExperimentStatus::Draft,
        started_at: None,
        stopped_at: None,
        winner: None,
        preregistration: None,
        reason: None,
    }
}

fn running() -> ExperimentState {
    ExperimentState {
        status: ExperimentStatus::Running,
        started_at: Some(T0),
        ..draft()
    }
}

fn running_with_plan(e: &Experiment) -> ExperimentState {
    ExperimentState {
        preregistration: Some(PreRegistration::of(e)),
        ..running()
    }
}

fn command(
    e: &Experiment,
    state: &ExperimentState,
    command: Command,
    reason: &str,
) -> Result<(ExperimentState, Vec<Action>), IllegalCommand> {
    step(
        e,
        state,
        Input::Command {
            command,
            actor: "alice",
            reason,
        },
        T0 + 5,
    )
}

#[test]
fn every_lifecycle_transition() {
    let t = Traffic::new(config(FIXED));
    let e = t.experiment();
    let report = t.report();

    // draft → running: the plan is recorded and the start logged.
    let (started, actions) = command(e, &draft(), Command::Start, "").unwrap();
    assert_eq!(started.status, ExperimentStatus::Running);
    assert_eq!(started.started_at, Some(T0 + 5));
    assert_eq!(started.preregistration, Some(PreRegistration::of(e)));
    let [Action::Log(d)] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(
        (
            d.action.as_str(),
            d.from_state.as_str(),
            d.to_state.as_str()
        ),
        ("start", "draft", "running")
    );
    assert_eq!(d.reason, "started by alice");
    assert_eq!(
        d.evidence["preregistration"]["alpha"],
        serde_json::json!(0.05)
    );

    // A repeated start changes nothing.
    let (again, actions) = command(e, &started, Command::Start, "").unwrap();
    assert_eq!((again, actions.len()), (started.clone(), 0));

    // running → stopped by hand, with the reason.
    let (stopped, actions) = command(e, &started, Command::Stop, "wrong metric").unwrap();
    assert_eq!(stopped.status, ExperimentStatus::Stopped);
    assert_eq!(stopped.stopped_at, Some(T0 + 5));
    let [Action::Log(d)] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(d.action, "stop");
    assert_eq!(d.reason, "manual stop by alice: wrong metric");
    assert_eq!(d.to_state, "stopped");
    assert_eq!(
        stopped.reason.as_deref(),
        Some("manual stop by alice: wrong metric")
    );

    // Illegal: stop a draft, stop twice, restart a stopped experiment.
    let err = command(e, &draft(), Command::Stop, "").unwrap_err();
    assert_eq!((err.command, err.status), ("stop", "draft"));
    let err = command(e, &stopped, Command::Stop, "").unwrap_err();
    assert_eq!((err.command, err.status), ("stop", "stopped"));
    let err = command(e, &stopped, Command::Start, "").unwrap_err();
    assert_eq!((err.command, err.status), ("start", "stopped"));
    assert!(
        err.to_string()
            .contains("cannot start experiment \"bakeoff\""),
        "{err}"
    );
    assert_eq!(Command::parse("stop"), Some(Command::Stop));
    assert_eq!(Command::parse("pause"), None);

    // Ticks: nothing happens to a draft or stopped experiment, or on "not yet".
    let not_yet = Verdict::NotYet {
        reason: "wait".into(),
    };
    let winner = Verdict::Winner {
        variant: "v2".into(),
    };
    let tick = |state: &ExperimentState, verdict: &Verdict| {
        step(
            e,
            state,
            Input::Tick {
                verdict,
                report: &report,
            },
            T0 + 9,
        )
        .unwrap()
    };
    for s in [draft(), stopped.clone()] {
        let (next, actions) = tick(&s, &winner);
        assert_eq!((next, actions.len()), (s, 0));
    }
    let (next, actions) = tick(&started, &not_yet);
    assert_eq!((next, actions.len()), (started.clone(), 0));

    // Winner without on_winner: stopped with the winner, no rollout asked for.
    let (won, actions) = tick(&started, &winner);
    assert_eq!(won.status, ExperimentStatus::Stopped);
    assert_eq!(won.winner.as_deref(), Some("v2"));
    assert_eq!(actions.len(), 1);
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert_eq!(
        (d.action.as_str(), d.to_state.as_str()),
        ("winner", "stopped (winner v2)")
    );
    assert_eq!(d.actor, "controller");
    assert_eq!(
        d.evidence["verdict"]["verdict"],
        serde_json::json!("winner")
    );
    assert_eq!(
        d.evidence["report"]["experiment"],
        serde_json::json!("bakeoff")
    );

    let (_, actions) = tick(&started, &Verdict::NoDifference);
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert_eq!(d.action, "no-difference");
    assert!(d.reason.starts_with("no difference"), "{}", d.reason);

    // A state stored without a plan gets one at its first look.
    let (next, actions) = tick(&running(), &not_yet);
    assert_eq!(next.preregistration, Some(PreRegistration::of(e)));
    assert!(actions.is_empty());
}

#[test]
fn preregistration_changes_are_listed() {
    let before = config(FIXED);
    let e = before.experiment("bakeoff").unwrap();
    let state = running_with_plan(e);
    assert_eq!(check_preregistration(&state, e), Ok(()));

    // Equal weights written out are the same split as no weights.
    let same = config(&FIXED.replace(
        "variants = [\"v1\", \"v2\"]",
        "variants = [\"v1\", \"v2\"]\nweights = [3, 3]",
    ));
    assert_eq!(
        check_preregistration(&state, same.experiment("bakeoff").unwrap()),
        Ok(())
    );

    let changed = config(
        r#"variants = ["v1", "v3"]
weights = [2, 1]
primary = "revenue"
guardrails = []
correction = "bh"
stopping = { rule = "sequential", mde = 0.1, alpha = 0.1, power = 0.8, max_duration = "30d" }"#,
    );
    let errors = check_preregistration(&state, changed.experiment("bakeoff").unwrap()).unwrap_err();
    let fields: Vec<&str> = errors
        .iter()
        .map(|m| {
            m.trim_start_matches("experiment \"bakeoff\": ")
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            "variants",
            "weights",
            "primary",
            "guardrails",
            "stopping.alpha",
            "stopping.mde",
            "stopping.rule",
            "correction"
        ],
        "{errors:#?}"
    );
    assert!(
        errors[4].contains("stopping.alpha was 0.05 when the experiment started and is now 0.1"),
        "{}",
        errors[4]
    );
    assert!(
        errors[7].contains("\"holm\"") && errors[7].contains("\"bh\""),
        "{}",
        errors[7]
    );

    // Nothing is fixed for a draft or a stopped experiment.
    let changed = changed.experiment("bakeoff").unwrap();
    assert_eq!(check_preregistration(&draft(), changed), Ok(()));
    let stopped = ExperimentState {
        status: ExperimentStatus::Stopped,
        ..state
    };
    assert_eq!(check_preregistration(&stopped, changed), Ok(()));
}

/// Per-unit (pre-period value, outcome) pairs of one arm.
type Pairs = Vec<(f64, f64)>;

/// Revenue per unit y = x + noise (+ 0.3 on v2) from a pre-period revenue x ~ N(10, 3²): the
/// covariate explains ρ² ≈ 0.9 of the variance. Returns the traffic and the per-unit (x, y).
fn correlated_revenue(seed: u64, n: u64) -> (Traffic, Pairs, Pairs) {
    let body = r#"variants = ["v1", "v2"]
primary = "revenue"
secondary = ["conversion", "ctr"]"#;
    let mut t = Traffic::new(config(body));
    let mut rng = Rng::new(seed);
    let mut arms = (Vec::new(), Vec::new());
    for i in 0..2 * n {
        let (variant, lift) = if i % 2 == 0 { ("v1", 0.0) } else { ("v2", 0.3) };
        let x = 10.0 + 3.0 * rng.normal();
        let y = x + rng.normal() + lift;
        t.unit_with_history(
            variant,
            None,
            vec![("purchase", Some(x)), ("view", None)],
            vec![("purchase", Some(y)), ("view", None)],
        );
        let arm = if variant == "v1" {
            &mut arms.0
        } else {
            &mut arms.1
        };
        arm.push((x, y));
    }
    (t, arms.0, arms.1)
}

/// The CUPED arm built by hand from the evidence's covariate moments.
fn cuped_arm(s: &MetricStats) -> CupedArm {
    let n = s.n as f64;
    assert_eq!(s.pre_n, s.n, "every unit carries a covariate");
    CupedArm {
        metric: Moments::from_sums(n, s.sum, s.sum_sq),
        covariate: Covariate {
            mean: s.pre_sum / n,
            variance: (s.pre_sum_sq - s.pre_sum * s.pre_sum / n) / (n - 1.0),
            covariance: (s.pre_cross - s.sum * s.pre_sum / n) / (n - 1.0),
        },
    }
}

/// Pooled within-arm squared correlation of (x, y).
fn pooled_rho2(arms: &[&[(f64, f64)]]) -> f64 {
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for arm in arms {
        let n = arm.len() as f64;
        let mx = arm.iter().map(|p| p.0).sum::<f64>() / n;
        let my = arm.iter().map(|p| p.1).sum::<f64>() / n;
        for (x, y) in arm.iter() {
            sxx += (x - mx) * (x - mx);
            syy += (y - my) * (y - my);
            sxy += (x - mx) * (y - my);
        }
    }
    sxy * sxy / (sxx * syy)
}

#[test]
fn cuped_equals_a_direct_call_and_narrows_the_interval() {
    let (t, v1, v2) = correlated_revenue(20_261_126, 2_000);
    let report = t.report();
    let c = report.comparison("revenue", "v2").unwrap();
    let cuped_lift = c
        .cuped
        .expect("a correlated pre-period gives a CUPED entry");

    // The same numbers as rampart_stats::cuped on the evidence's moments.
    let (ca, ta) = (
        cuped_arm(&t.stats("v1", "revenue")),
        cuped_arm(&t.stats("v2", "revenue")),
    );
    let spec = TestSpec::two_sided(0.05);
    let direct = cuped(&ca, &ta, spec).unwrap();
    let plain = cuped_with_theta(&ca, &ta, 0.0, spec).unwrap();
    let abs = cuped_lift.absolute_lift;
    assert_close(abs.estimate, direct.absolute.estimate, "cuped lift");
    assert_close(abs.lower, direct.absolute.interval.lower, "cuped lower");
    assert_close(abs.upper, direct.absolute.interval.upper, "cuped upper");
    assert_close(cuped_lift.p_value, direct.absolute.p_value, "cuped p");
    let rel = cuped_lift.relative_lift.unwrap();
    assert_close(
        rel.estimate,
        direct.relative.unwrap().estimate,
        "cuped relative",
    );
    assert_close(cuped_lift.theta, cuped_theta(&ca, &ta), "theta");
    let se = (direct.absolute.std_error, plain.absolute.std_error);
    assert_close(
        cuped_lift.variance_reduction,
        1.0 - se.0 * se.0 / (se.1 * se.1),
        "variance reduction",
    );
    // The unadjusted comparison is Welch on the same units.
    assert_close(
        c.absolute_lift.unwrap().estimate,
        plain.absolute.estimate,
        "unadjusted lift",
    );

    // y = x + noise: θ ≈ 1, the variance shrinks by ≈ ρ² and the interval with it.
    assert!(
        (cuped_lift.theta - 1.0).abs() < 0.05,
        "{}",
        cuped_lift.theta
    );
    let rho2 = pooled_rho2(&[&v1, &v2]);
    assert!((rho2 - 0.9).abs() < 0.02, "sample ρ² {rho2}");
    assert!(
        (cuped_lift.variance_reduction - rho2).abs() < 0.01,
        "reduction {} vs ρ² {rho2}",
        cuped_lift.variance_reduction
    );
    let unadjusted = c.absolute_lift.unwrap();
    let (w_adj, w) = (abs.upper - abs.lower, unadjusted.upper - unadjusted.lower);
    assert!(w_adj < 0.4 * w, "adjusted width {w_adj} vs {w}");
    // With θ ≈ 1 the adjusted lift is close to the difference of mean(y − x), and within
    // four standard errors of the true 0.3, clear of 0.
    let gain = |a: &[(f64, f64)]| a.iter().map(|p| p.1 - p.0).sum::<f64>() / a.len() as f64;
    assert!(
        (abs.estimate - (gain(&v2) - gain(&v1))).abs() < 0.01,
        "{abs:?}"
    );
    assert!((abs.estimate - 0.3).abs() < 4.0 * direct.absolute.std_error);
    assert!(abs.lower > 0.0, "{abs:?}");
    assert!(cuped_lift.p_value < c.p_value.unwrap());

    // Every unit bought before its exposure: the conversion covariate does not vary, so no
    // CUPED entry; ratio metrics never have one.
    assert!(report
        .comparison("conversion", "v2")
        .unwrap()
        .cuped
        .is_none());
    assert!(report.comparison("ctr", "v2").unwrap().cuped.is_none());
    let json = serde_json::to_value(&report).unwrap();
    let rev = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "revenue")
        .unwrap();
    assert!(rev["cuped"]["variance_reduction"].as_f64().unwrap() > 0.8);
}

#[test]
fn cuped_on_a_binary_metric_reads_the_pre_period_conversion() {
    let body = r#"variants = ["v1", "v2"]
primary = "conversion""#;
    let mut t = Traffic::new(config(body));
    let mut rng = Rng::new(7);
    for i in 0..4_000u64 {
        let variant = if i % 2 == 0 { "v1" } else { "v2" };
        // Buyers before keep buying: P(buy) = 0.6 after a pre-period purchase, 0.1 otherwise.
        let bought = rng.bernoulli(0.3);
        let buys = rng.bernoulli(if bought { 0.6 } else { 0.1 });
        let pre = if bought {
            vec![("purchase", Some(1.0))]
        } else {
            Vec::new()
        };
        let post = if buys {
            vec![("purchase", Some(1.0))]
        } else {
            Vec::new()
        };
        t.unit_with_history(variant, None, pre, post);
    }
    let c = t.stats("v1", "conversion");
    assert_eq!(c.pre_n, c.n);
    let report = t.report();
    let cmp = report.comparison("conversion", "v2").unwrap();
    let cl = cmp.cuped.unwrap();
    let direct = cuped(
        &cuped_arm(&t.stats("v1", "conversion")),
        &cuped_arm(&t.stats("v2", "conversion")),
        TestSpec::two_sided(0.05),
    )
    .unwrap();
    assert_close(cl.absolute_lift.estimate, direct.absolute.estimate, "lift");
    // ρ² = (0.3·0.7·0.5)² / (0.21 · 0.25·0.75) ≈ 0.333.
    assert!(
        (cl.variance_reduction - 0.333).abs() < 0.05,
        "{}",
        cl.variance_reduction
    );
}

#[test]
fn no_pre_period_data_gives_no_cuped_entry() {
    // Plenty of units and outcomes, but no event before any exposure.
    let t = three_arms();
    let report = t.report();
    for c in &report.metrics {
        assert!(c.cuped.is_none(), "{} / {}", c.metric, c.variant);
    }
    let s = t.stats("v1", "revenue");
    assert_eq!(s.pre_n, s.n);
    assert_eq!((s.pre_sum, s.pre_sum_sq, s.pre_cross), (0.0, 0.0, 0.0));
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("cuped") && !json.contains("NaN"), "{json}");

    // Pre-period data in one arm only: still none (the covariate must vary in both arms).
    let body = r#"variants = ["v1", "v2"]
primary = "revenue""#;
    let mut t = Traffic::new(config(body));
    for i in 0..200u64 {
        let pre = vec![("purchase", Some(1.0 + (i % 5) as f64))];
        t.unit_with_history(
            "v1",
            None,
            pre,
            vec![("purchase", Some(2.0 + (i % 3) as f64))],
        );
        t.unit("v2", None, vec![("purchase", Some(2.0 + (i % 4) as f64))]);
    }
    let report = t.report();
    let c = report.comparison("revenue", "v2").unwrap();
    assert!(c.p_value.is_some() && c.cuped.is_none());
    assert!(t.stats("v1", "revenue").pre_variance().unwrap() > 0.0);
    assert_eq!(t.stats("v2", "revenue").pre_variance(), Some(0.0));
}

#[test]
fn prometheus_guardrail_limits_breach_hold_back_a_winner_and_show_values() {
    use rampart_core::analysis::provider::{Reading, Readings};
    use rampart_core::analysis::Outcome;
    use rampart_core::experiment::{analyze_with_readings, experiment_queries};

    let body = r#"variants = ["v1", "v2"]
primary = "conversion"
guardrails = ["p99"]
limits = [{ metric = "p99", max = 0.3 }]

[prometheus]
url = "http://127.0.0.1:9090"

[[metrics]]
name = "p99"
kind = "prometheus"
query = 'p99{app="{{model}}",version="{{variant}}",x="{{experiment}}"}'
goal = "decrease"
"#;
    let mut t = Traffic::new(config(body));
    t.units("v1", 4_000, None, shop(0.10, 0.0));
    t.units("v2", 4_000, None, shop(0.30, 0.0));
    let q = |v: &str| format!("p99{{app=\"recs\",version=\"{v}\",x=\"bakeoff\"}}");
    assert_eq!(
        experiment_queries(t.experiment(), &t.config),
        [q("v1"), q("v2")]
    );
    let with = |v1: Reading, v2: Reading| -> ExperimentReport {
        let readings: Readings = [(q("v1"), v1), (q("v2"), v2)].into_iter().collect();
        analyze_with_readings(t.experiment(), &t.config, &t.evidence(), &readings, t.ts)
    };
    let value = |v: f64| Reading::Value { value: v };

    // Under the limit: the primary metric decides, and the values are in the report.
    let ok = with(value(0.2), value(0.25));
    assert_eq!(ok.limits.len(), 1);
    assert_eq!(ok.limits[0].outcome, Outcome::Pass);
    assert_eq!(ok.limits[0].numbers.estimate, Some(0.25));
    assert_eq!(ok.provider_values[0].reads[1].query, q("v2"));
    let row = ok
        .comparison("p99", "v2")
        .expect("a row for the PromQL metric");
    assert_eq!(
        (row.control_value, row.variant_value),
        (Some(0.2), Some(0.25))
    );
    assert_eq!(row.direction, Some(Direction::Worse));
    assert_eq!(row.p_value, None);
    assert_eq!(
        decide(&ok, t.experiment(), T0, t.ts),
        Verdict::Winner {
            variant: "v2".into()
        }
    );

    // Over the limit: a guardrail breach of that variant.
    let over = with(value(0.2), value(0.45));
    assert_eq!(over.limits[0].outcome, Outcome::Fail);
    assert_eq!(
        decide(&over, t.experiment(), T0, t.ts),
        Verdict::GuardrailBreach {
            variant: "v2".into(),
            metric: "p99".into()
        }
    );

    // Unreadable: no winner past it.
    for unread in [
        Reading::NoValue {
            reason: "no series".into(),
        },
        Reading::Error {
            message: "timed out".into(),
        },
        value(f64::NAN),
    ] {
        let report = with(value(0.2), unread.clone());
        assert_eq!(
            report.limits[0].outcome,
            Outcome::Inconclusive,
            "{unread:?}"
        );
        match decide(&report, t.experiment(), T0, t.ts) {
            Verdict::NotYet { reason } => assert!(
                reason.contains("v2 would win, but the limit on guardrail p99 is inconclusive"),
                "{reason}"
            ),
            other => panic!("{unread:?}: {other:?}"),
        }
    }
}

#[test]
fn metrics_with_a_maturity_compare_mature_units_and_srm_counts_all() {
    let mut cfg =
        config("variants = [\"v1\", \"v2\"]\nprimary = \"conversion\"\nsecondary = [\"errors\"]\n");
    cfg.metrics[0].maturity = Some("1d".parse().unwrap());
    let mut t = Traffic::new(cfg);
    t.units("v1", 2_000, Some("de"), shop(0.10, 0.0));
    t.units("v2", 2_000, Some("de"), shop(0.10, 0.0));
    // A day later: fresh units on v2 only, no purchase arrived yet.
    t.ts += 2 * DAY;
    t.units("v2", 1_500, Some("de"), |_| Vec::new());
    let report = t.report();

    let conversion = report
        .metrics
        .iter()
        .find(|c| c.metric == "conversion")
        .unwrap();
    assert_eq!((conversion.control_n, conversion.variant_n), (2_000, 2_000));
    assert_close(
        conversion.variant_value.unwrap(),
        0.10,
        "mature v2 conversion",
    );
    assert!(conversion.always_valid_p_value.unwrap() > 0.5);
    // A metric without a maturity reads every unit.
    let errors = report
        .metrics
        .iter()
        .find(|c| c.metric == "errors")
        .unwrap();
    assert_eq!(errors.variant_n, 3_500);
    // The segment breakdown reads mature units too, and counts every exposed unit.
    let de = &report.segments[0];
    assert_eq!(de.units, [2_000, 3_500]);
    let de_conversion = de
        .comparisons
        .iter()
        .find(|c| c.metric == "conversion")
        .unwrap();
    assert_eq!(de_conversion.variant_n, 2_000);
    // The sample-ratio check keeps every exposure: 2000 vs 3500 on a 50/50 split is a mismatch.
    assert_eq!(report.srm.units, [2_000, 3_500]);
    assert!(report.srm.blocked);
    assert!(
        report.notes.contains(
            &"conversion: mature units only (exposed ≥ 1d ago): v1 2000 of 2000, v2 2000 of 3500"
                .to_string()
        ),
        "{:?}",
        report.notes
    );
}
