//! The simulator makes the controller's whole decision, as the server does (`tick::plan_tick`):
//! a rollout stage that runs an experiment among two candidates ends on that experiment's winner,
//! and an experiment whose winner hands off to a waiting rollout starts that rollout with the
//! winner as its candidate, which then ramps to 100%.

use std::collections::BTreeMap;

use rampart_core::config::{load_str, Config, Format};
use rampart_core::state::{ExperimentStatus, RolloutStatus};
use rampart_sim::{run_rollout, Behaviour, RunOptions, Traffic};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn config(body: &str) -> Config {
    let text = format!(
        r#"
[[models]]
name = "fraud"
variants = [{{ name = "v1" }}, {{ name = "v2" }}, {{ name = "v3" }}]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"
{body}
"#
    );
    load_str(&text, Format::Toml, "sim.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn traffic(rates: [f64; 3]) -> Traffic {
    let behaviour = |conversion| Behaviour {
        conversion,
        error: 0.0,
        latency_ms: 80.0,
    };
    Traffic {
        units_per_hour: 20_000.0,
        daily_amplitude: 0.0,
        peak_hour: 0.0,
        behaviour: BTreeMap::from([
            ("v1".to_string(), behaviour(rates[0])),
            ("v2".to_string(), behaviour(rates[1])),
            ("v3".to_string(), behaviour(rates[2])),
        ]),
        segment_attribute: None,
        segments: Vec::new(),
    }
}

fn opts(seed: u64) -> RunOptions {
    RunOptions {
        tick_ms: 5 * MINUTE,
        horizon_ms: 48 * HOUR,
        approve_after_ms: Some(0),
        seed,
    }
}

fn actions(run: &rampart_sim::RolloutRun) -> Vec<(String, String)> {
    run.decisions
        .iter()
        .map(|d| (d.entity.clone(), d.action.clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .collect()
}

#[test]
fn a_stage_experiment_runs_and_its_winner_becomes_the_candidate() {
    let c = config(
        r#"
[[rollouts]]
name = "r"
model = "fraud"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 20, experiment = "pick" }, { traffic = 100 }]

[[experiments]]
name = "pick"
model = "fraud"
variants = ["v2", "v3"]
primary = "conversion"
stopping = { rule = "sequential", alpha = 0.05 }
"#,
    );
    // v3 converts twice as often as v2.
    let t = traffic([0.10, 0.10, 0.20]);
    for seed in 0..3 {
        let run = run_rollout(&c, "r", &t, opts(seed)).unwrap();
        assert_eq!(
            actions(&run),
            pairs(&[
                ("pick", "start"),
                ("pick", "winner"),
                ("r", "advance"),
                ("r", "complete")
            ]),
            "seed {seed}: {:#?}",
            run.decisions
        );
        assert_eq!(run.status, RolloutStatus::Completed);
        assert_eq!(run.state.rollouts["r"].candidate.as_deref(), Some("v3"));
        let pick = &run.state.experiments["pick"];
        assert_eq!(pick.status, ExperimentStatus::Stopped);
        assert_eq!(pick.winner.as_deref(), Some("v3"));
        // The stage's start and the experiment's start are one tick's decisions.
        assert_eq!(run.decisions[0].ts, 5 * MINUTE);
        assert_eq!(run.decisions[0].actor, "rollout:r");
        // The experiment's winner and the rollout's advance come in the same tick.
        assert_eq!(run.decisions[1].ts + 5 * MINUTE, run.decisions[2].ts);
    }
}

#[test]
fn a_winner_hands_off_to_a_waiting_rollout_that_ramps_to_completion() {
    let c = config(
        r#"
[[rollouts]]
name = "r"
model = "fraud"
baseline = "v1"
candidate = "v3"
autostart = false
stages = [{ traffic = 10, min_duration = "1h" }, { traffic = 100 }]
gates = [{ metric = "conversion", compare = "control", max_worsening = "20%" }]

[[experiments]]
name = "bakeoff"
model = "fraud"
variants = ["v1", "v2"]
primary = "conversion"
on_winner = { rollout = "r" }
stopping = { rule = "sequential", alpha = 0.05 }
"#,
    );
    // v2 is much better than v1; v3, the configured candidate, would be much worse.
    let t = traffic([0.10, 0.20, 0.01]);
    for seed in 0..3 {
        let run = run_rollout(&c, "r", &t, opts(seed)).unwrap();
        assert_eq!(
            actions(&run),
            pairs(&[
                ("bakeoff", "winner"),
                ("r", "start"),
                ("r", "advance"),
                ("r", "complete")
            ]),
            "seed {seed}: {:#?}",
            run.decisions
        );
        let (won, started) = (&run.decisions[0], &run.decisions[1]);
        // The hand-off starts the rollout in the tick the winner is declared.
        assert_eq!(won.ts, started.ts);
        assert_eq!(started.actor, "experiment:bakeoff");
        let r = &run.state.rollouts["r"];
        assert_eq!(r.status, RolloutStatus::Completed);
        assert_eq!(r.candidate.as_deref(), Some("v2"));
        // The candidate the gates saw was the winner: it passed, v3 would have failed.
        assert!(run.candidate_units > 0);
        assert_eq!(run.worse_units, 0, "v2 is never worse than v1");
    }
}
