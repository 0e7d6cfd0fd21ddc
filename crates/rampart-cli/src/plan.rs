//! `rampart plan`: collects the checklist answers and the traffic figures (flags, an answers file,
//! or questions in a terminal), then prints the recommendation, the sample sizes and durations, and
//! a config block to paste. The arithmetic lives in `rampart_core::plan`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use rampart_core::plan::{self, Plan, PlanInput, Strategy};

use crate::exit::{out, outln};
use crate::table;

/// Answers and figures of `rampart plan`; every one may also come from `--answers FILE`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Enough traffic to detect meaningful differences quickly? 1 (little) to 5 (plenty).
    #[arg(long, value_name = "1-5")]
    traffic_volume: Option<String>,
    /// How well a model failure can be absorbed: 1 (catastrophic) to 5 (cheap to undo).
    #[arg(long, value_name = "1-5")]
    risk_tolerance: Option<String>,
    /// An experimentation platform with real-time logging and analysis? 1 to 5.
    #[arg(long, value_name = "1-5")]
    infrastructure_maturity: Option<String>,
    /// Experience with experiment design and statistics: 1 to 5.
    #[arg(long, value_name = "1-5")]
    team_expertise: Option<String>,
    /// Robust monitoring and alerting: 1 to 5 (high favours a staged rollout).
    #[arg(long, value_name = "1-5")]
    monitoring_capability: Option<String>,
    /// Need to test many variants quickly? 1 to 5.
    #[arg(long, value_name = "1-5")]
    iteration_speed: Option<String>,
    /// Stakeholders comfortable with the uncertainty of an experiment? 1 to 5.
    #[arg(long, value_name = "1-5")]
    stakeholder_alignment: Option<String>,
    /// Units (users, sessions or requests) reaching the model per day.
    #[arg(long, value_name = "N")]
    units_per_day: Option<String>,
    /// The baseline's rate of the primary binary metric (0.05 = 5%).
    #[arg(long, value_name = "RATE")]
    baseline_rate: Option<String>,
    /// Minimum detectable effect, relative to the baseline rate (0.05 = 5%).
    #[arg(long, value_name = "REL")]
    mde: Option<String>,
    /// Significance level [default: 0.05].
    #[arg(long)]
    alpha: Option<String>,
    /// Power [default: 0.8].
    #[arg(long)]
    power: Option<String>,
    /// A/B units needed per interleaved impression [default: 2.78, measured in docs/interleaving.md].
    #[arg(long, value_name = "FACTOR")]
    interleaving_factor: Option<String>,
    /// Share of units in an experiment, percent [default: 100].
    #[arg(long, value_name = "PERCENT")]
    traffic: Option<String>,
    /// Model named in the config block [default: my-model].
    #[arg(long)]
    model: Option<String>,
    /// Baseline variant [default: v1].
    #[arg(long)]
    baseline: Option<String>,
    /// Candidate variant [default: v2].
    #[arg(long)]
    candidate: Option<String>,
    /// Primary metric (binary) [default: conversion].
    #[arg(long)]
    metric: Option<String>,
    /// The model ranks items: interleave the variants in one list (team draft).
    #[arg(long)]
    ranking: bool,
    /// A TOML file of answers ([checklist], [numbers], [config]); flags override it.
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Ask for missing answers on stdin even when it is not a terminal.
    #[arg(long)]
    interactive: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

impl PlanArgs {
    /// The answers given as flags.
    fn flags(&self) -> Result<PlanInput, String> {
        let mut input = PlanInput::default();
        let given = [
            ("traffic-volume", &self.traffic_volume),
            ("risk-tolerance", &self.risk_tolerance),
            ("infrastructure-maturity", &self.infrastructure_maturity),
            ("team-expertise", &self.team_expertise),
            ("monitoring-capability", &self.monitoring_capability),
            ("iteration-speed", &self.iteration_speed),
            ("stakeholder-alignment", &self.stakeholder_alignment),
            ("units-per-day", &self.units_per_day),
            ("baseline-rate", &self.baseline_rate),
            ("mde", &self.mde),
            ("alpha", &self.alpha),
            ("power", &self.power),
            ("interleaving-factor", &self.interleaving_factor),
            ("traffic", &self.traffic),
            ("model", &self.model),
            ("baseline", &self.baseline),
            ("candidate", &self.candidate),
            ("metric", &self.metric),
        ];
        for (key, value) in given {
            if let Some(v) = value {
                input
                    .set_text(key, v)
                    .map_err(|e| format!("--{key}: {e}"))?;
            }
        }
        if self.ranking {
            input.ranking = Some(true);
        }
        Ok(input)
    }
}

/// Runs `rampart plan`.
pub fn plan(args: &PlanArgs) -> Result<(), String> {
    let mut input = match &args.answers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            PlanInput::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => PlanInput::default(),
    };
    input = input.merge(args.flags()?);
    if args.interactive || std::io::stdin().is_terminal() {
        ask(&mut input, &mut std::io::stdin().lock())?;
    }
    let plan = plan::plan(&input).map_err(|e| e.to_string())?;
    if args.json {
        let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
        outln!("{text}");
    } else {
        print(&plan);
    }
    Ok(())
}

/// Asks each missing answer on stderr (stdout stays the plan's), re-asking after a bad answer.
fn ask(input: &mut PlanInput, stdin: &mut impl BufRead) -> Result<(), String> {
    let mut err = std::io::stderr();
    for q in input.missing() {
        loop {
            let _ = write!(err, "{} [{}]: ", q.text, q.range);
            let _ = err.flush();
            let mut line = String::new();
            let read = stdin
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the answer to {}: {e}", q.name))?;
            if read == 0 {
                let _ = writeln!(err);
                return Err(format!("input ended before an answer to {}", q.name));
            }
            match input.set_text(q.name, &line) {
                Ok(()) => break,
                Err(e) => {
                    let _ = writeln!(err, "  {e}");
                }
            }
        }
    }
    Ok(())
}

fn print(plan: &Plan) {
    let c = &plan.checklist;
    outln!("CHECKLIST");
    table::print(
        &["CRITERION", "ANSWER", "INTERLEAVING", "STAGED"],
        c.scores
            .iter()
            .map(|s| {
                vec![
                    s.criterion.name().to_string(),
                    s.answer.to_string(),
                    s.interleaving.to_string(),
                    s.staged.to_string(),
                ]
            })
            .chain(std::iter::once(vec![
                "total".to_string(),
                String::new(),
                c.interleaving.to_string(),
                c.staged.to_string(),
            ])),
    );
    outln!(
        "\nRECOMMENDATION: {}\n{}",
        c.recommendation.as_str(),
        c.reason
    );

    let a = &plan.input.numbers;
    let n = &plan.numbers;
    outln!(
        "\nNUMBERS: baseline rate {}, mde {}% relative, alpha {}, power {}, {} units per day, {}% of them in an experiment",
        a.baseline_rate,
        a.mde * 100.0,
        a.alpha,
        a.power,
        table::thousands(a.units_per_day),
        a.traffic
    );
    table::print(
        &["DESIGN", "UNITS PER ARM", "ARMS", "DAYS"],
        [
            vec![
                "split test, fixed horizon".to_string(),
                table::thousands(n.split.units_per_arm as f64),
                n.split.arms.to_string(),
                n.split.days.to_string(),
            ],
            vec![
                "split test, mSPRT (expected)".to_string(),
                table::thousands(n.split.sequential.expected_units_per_arm),
                n.split.arms.to_string(),
                format!("{:.1}", n.split.sequential_days),
            ],
            vec![
                "interleaved (team draft)".to_string(),
                table::thousands(n.interleaving.impressions as f64),
                "1".to_string(),
                n.interleaving.days.to_string(),
            ],
        ]
        .into_iter(),
    );
    outln!(
        "split test: two-sided z-test on Cohen's h = {:.4}; the mSPRT stops by {} units per arm in {:.0}% of simulated runs",
        n.split.effect_size,
        table::thousands(n.split.sequential.horizon_units_per_arm),
        n.split.sequential.power_by_horizon * 100.0
    );
    outln!(
        "interleaved: one impression compares both variants; assumed {:.2}x as sensitive as the split test (--interleaving-factor)",
        n.interleaving.factor
    );

    let s = &n.staged;
    outln!(
        "\nSTAGED ROLLOUT: gate \"no worse than {}% below the control\" needs {} units per arm (one-sided z-test; the always-valid gate expects {})",
        s.margin * 100.0,
        table::thousands(s.gate_units_per_arm as f64),
        table::thousands(s.sequential_gate.expected_units_per_arm)
    );
    table::print(
        &[
            "TRAFFIC %",
            "MIN",
            "ARM SHARE %",
            "UNITS/ARM/DAY",
            "UNITS/ARM AT END",
            "HOURS",
        ],
        s.stages.iter().map(|st| {
            vec![
                st.traffic.to_string(),
                match st.min_duration_hours {
                    0 => "-".to_string(),
                    h => format!("{h}h"),
                },
                st.arm_share.to_string(),
                table::thousands(st.units_per_arm_per_day),
                table::thousands(st.units_per_arm_at_end),
                st.hours.to_string(),
            ]
        }),
    );
    outln!("total: {} hours ({:.1} days)", s.total_hours, s.total_days);
    // Evidence carries over from stage to stage, so the first stage that is too short for the
    // gate holds the whole rollout: say which one, since it is the lever to pull.
    if let Some(st) = s.stages.iter().find(|st| st.hours > st.min_duration_hours) {
        outln!(
            "the {}% stage waits {:.1} days for the gate's units; the stages after it need only their minimum",
            st.traffic,
            st.hours as f64 / 24.0
        );
    }

    let kind = match c.recommendation {
        Strategy::StagedRollout => "rollout",
        Strategy::Interleaving => "experiment",
    };
    outln!(
        "\nCONFIG ({kind}; the model {:?} and the metric {:?} must be defined beside it)",
        plan.input.names.model,
        plan.input.names.metric
    );
    out!("{}", plan.snippet);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_asked_again_after_a_bad_answer() {
        let mut input = PlanInput::default();
        for (k, v) in [
            ("risk-tolerance", "3"),
            ("infrastructure-maturity", "3"),
            ("team-expertise", "3"),
            ("monitoring-capability", "3"),
            ("iteration-speed", "3"),
            ("stakeholder-alignment", "3"),
            ("units-per-day", "1000"),
            ("baseline-rate", "0.1"),
        ] {
            input.set_text(k, v).unwrap();
        }
        let mut stdin: &[u8] = b"7\nfour\n4\n0\n0.1\n";
        ask(&mut input, &mut stdin).unwrap();
        assert_eq!(input.answers[0], Some(4));
        assert_eq!(input.mde, Some(0.1));
        assert!(input.missing().is_empty());
    }
}
