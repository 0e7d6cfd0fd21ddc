//! One verdict for a rollout's current stage, for tools outside rampart that only read a word
//! (an Argo Rollouts `web` metric, a CI gate): `pass`, `fail` or `inconclusive`, with the reason.
//!
//! [`assess_stage_verdict`] is pure: it reads the rollout's status and the gate verdicts of the
//! controller's last look, never evidence or a clock. The rules, in order:
//!
//! - rolled back → `fail`; completed → `pass`; pending (not started) → `inconclusive`;
//! - no look yet → `inconclusive`;
//! - any verdict of the look fails (overall or in a segment) → `fail`;
//! - every gate has an overall `pass` (or the rollout has no gates) → `pass`;
//! - otherwise → `inconclusive`.
//!
//! A paused rollout keeps the verdict of its last look, so a pause on harm (`on_fail = "pause"`)
//! still reads `fail`.

use serde::Serialize;

use crate::analysis::{GateVerdict, Outcome};
use crate::config::Rollout;
use crate::state::{RolloutState, RolloutStatus};

/// The verdict on a rollout's current stage, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageVerdict {
    pub outcome: Outcome,
    /// One line a person understands.
    pub reason: String,
}

/// Reduces a rollout's status and its last look's gate verdicts (`None` before the first look)
/// to one verdict; see the module documentation for the rules.
pub fn assess_stage_verdict(
    rollout: &Rollout,
    state: Option<&RolloutState>,
    look: Option<&[GateVerdict]>,
) -> StageVerdict {
    let verdict = |outcome, reason: String| StageVerdict { outcome, reason };
    let Some(state) = state else {
        return verdict(
            Outcome::Inconclusive,
            "the rollout has no live state yet".into(),
        );
    };
    match state.status {
        RolloutStatus::RolledBack => {
            let why = state.reason.as_deref().unwrap_or("no reason recorded");
            return verdict(Outcome::Fail, format!("the rollout was rolled back: {why}"));
        }
        RolloutStatus::Completed => {
            return verdict(Outcome::Pass, "the rollout completed".into());
        }
        RolloutStatus::Pending => {
            return verdict(Outcome::Inconclusive, "the rollout has not started".into());
        }
        RolloutStatus::Running | RolloutStatus::AwaitingApproval | RolloutStatus::Paused => {}
    }
    let Some(verdicts) = look else {
        return verdict(
            Outcome::Inconclusive,
            "the controller has not looked at this rollout yet".into(),
        );
    };
    if let Some(v) = verdicts.iter().find(|v| v.outcome == Outcome::Fail) {
        let place = v
            .segment
            .as_ref()
            .map_or(String::new(), |(a, val)| format!(" in segment {a}={val}"));
        return verdict(
            Outcome::Fail,
            format!("gate {} ({}) fails{place}: {}", v.gate, v.metric, v.message),
        );
    }
    let open: Vec<String> = rollout
        .gates
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            !verdicts
                .iter()
                .any(|v| v.gate == *i && v.segment.is_none() && v.outcome == Outcome::Pass)
        })
        .map(|(i, g)| format!("gate {i} ({})", g.metric))
        .collect();
    if open.is_empty() {
        let why = if rollout.gates.is_empty() {
            "the rollout has no gates".to_string()
        } else {
            format!("all {} gates pass", rollout.gates.len())
        };
        return verdict(Outcome::Pass, why);
    }
    verdict(
        Outcome::Inconclusive,
        format!("not enough evidence yet for {}", open.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::GateNumbers;
    use crate::config::{load_str, Format};

    fn rollout(gates: &str) -> Rollout {
        let text = format!(
            r#"
[[models]]
name = "m"
variants = [{{ name = "v1" }}, {{ name = "v2" }}]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"

[[metrics]]
name = "errors"
kind = "binary"
event = "error"
goal = "decrease"

[[rollouts]]
name = "r"
model = "m"
baseline = "v1"
candidate = "v2"
stages = [{{ traffic = 10 }}, {{ traffic = 100 }}]
gates = [{gates}]
"#
        );
        load_str(&text, Format::Toml, "t.toml")
            .unwrap_or_else(|e| panic!("{e}"))
            .rollouts
            .remove(0)
    }

    fn two_gates() -> Rollout {
        rollout(
            r#"{ metric = "conversion", compare = "control", max_worsening = "2%" }, { metric = "errors", max = 0.05 }"#,
        )
    }

    fn state(status: RolloutStatus) -> RolloutState {
        RolloutState {
            status,
            reason: Some("gate 0 shows harm".into()),
            ..RolloutState::pending()
        }
    }

    fn gate(
        gate: usize,
        metric: &str,
        outcome: Outcome,
        segment: Option<(&str, &str)>,
    ) -> GateVerdict {
        GateVerdict {
            gate,
            metric: metric.into(),
            outcome,
            harm: outcome == Outcome::Fail,
            segment: segment.map(|(a, v)| (a.into(), v.into())),
            message: format!("{metric} is {outcome:?}"),
            reads: Vec::new(),
            numbers: GateNumbers {
                measure: None,
                estimate: None,
                lower: None,
                upper: None,
                p_value: None,
                adjusted_p_value: None,
                threshold: None,
                n_candidate: 0,
                n_control: 0,
                candidate_estimate: None,
                control_estimate: None,
                alpha: 0.05,
                mature: None,
            },
        }
    }

    #[test]
    fn status_decides_before_the_look() {
        let r = two_gates();
        let passing = [
            gate(0, "conversion", Outcome::Pass, None),
            gate(1, "errors", Outcome::Pass, None),
        ];
        let rolled_back =
            assess_stage_verdict(&r, Some(&state(RolloutStatus::RolledBack)), Some(&passing));
        assert_eq!(rolled_back.outcome, Outcome::Fail);
        assert_eq!(
            rolled_back.reason,
            "the rollout was rolled back: gate 0 shows harm"
        );
        let completed = assess_stage_verdict(&r, Some(&state(RolloutStatus::Completed)), None);
        assert_eq!(completed.outcome, Outcome::Pass);
        let pending =
            assess_stage_verdict(&r, Some(&state(RolloutStatus::Pending)), Some(&passing));
        assert_eq!(pending.outcome, Outcome::Inconclusive);
        assert_eq!(
            assess_stage_verdict(&r, None, Some(&passing)).outcome,
            Outcome::Inconclusive
        );
        let unseen = assess_stage_verdict(&r, Some(&state(RolloutStatus::Running)), None);
        assert_eq!(unseen.outcome, Outcome::Inconclusive);
        assert!(unseen.reason.contains("not looked"), "{}", unseen.reason);
    }

    #[test]
    fn any_failure_fails_every_gate_passing_passes_else_inconclusive() {
        let r = two_gates();
        let running = state(RolloutStatus::Running);
        let all_pass = [
            gate(0, "conversion", Outcome::Pass, None),
            gate(1, "errors", Outcome::Pass, None),
        ];
        let v = assess_stage_verdict(&r, Some(&running), Some(&all_pass));
        assert_eq!(
            (v.outcome, v.reason.as_str()),
            (Outcome::Pass, "all 2 gates pass")
        );

        let one_open = [
            gate(0, "conversion", Outcome::Pass, None),
            gate(1, "errors", Outcome::Inconclusive, None),
        ];
        let v = assess_stage_verdict(&r, Some(&running), Some(&one_open));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert_eq!(v.reason, "not enough evidence yet for gate 1 (errors)");

        // A failing segment fails the stage even though every overall verdict passes.
        let mut segment_harm = all_pass.to_vec();
        segment_harm.push(gate(1, "errors", Outcome::Fail, Some(("country", "fr"))));
        let paused = state(RolloutStatus::Paused);
        let v = assess_stage_verdict(&r, Some(&paused), Some(&segment_harm));
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(
            v.reason,
            "gate 1 (errors) fails in segment country=fr: errors is Fail"
        );

        // A look without verdicts (no evidence yet) passes nothing.
        let v = assess_stage_verdict(&r, Some(&running), Some(&[]));
        assert_eq!(v.outcome, Outcome::Inconclusive);
        assert!(
            v.reason.contains("gate 0 (conversion), gate 1 (errors)"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn a_rollout_without_gates_passes_once_looked_at() {
        let r = rollout("");
        let running = state(RolloutStatus::AwaitingApproval);
        let v = assess_stage_verdict(&r, Some(&running), Some(&[]));
        assert_eq!(
            (v.outcome, v.reason.as_str()),
            (Outcome::Pass, "the rollout has no gates")
        );
    }
}
