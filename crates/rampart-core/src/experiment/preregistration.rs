//! Pre-registration: what an experiment fixed when it started (design, variants and split,
//! metrics by role, alpha, power, mde, stopping rule, maximum duration, correction). Changing any
//! of it while the experiment runs would invalidate its error rates, so a reload that does is
//! refused with the list [`check_preregistration`] gives.

use serde::{Deserialize, Serialize};

use super::report::shares;
use crate::config::{Correction, Design, Duration, Experiment, StoppingRule};
use crate::state::{ExperimentState, ExperimentStatus};

/// The analysis plan of an experiment, recorded in its state at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreRegistration {
    pub design: Design,
    pub variants: Vec<String>,
    /// Shares of the split, summing to 1 (equal when no weights are configured).
    pub weights: Vec<f64>,
    pub primary: String,
    pub secondary: Vec<String>,
    pub guardrails: Vec<String>,
    pub alpha: f64,
    pub power: f64,
    pub mde: Option<f64>,
    pub rule: StoppingRule,
    pub max_duration: Option<Duration>,
    pub correction: Correction,
}

impl PreRegistration {
    /// The plan as `experiment` configures it now.
    pub fn of(experiment: &Experiment) -> PreRegistration {
        let s = &experiment.stopping;
        PreRegistration {
            design: experiment.design,
            variants: experiment.variants.clone(),
            weights: shares(experiment),
            primary: experiment.primary.clone(),
            secondary: experiment.secondary.clone(),
            guardrails: experiment.guardrails.clone(),
            alpha: s.alpha,
            power: s.power,
            mde: s.mde,
            rule: s.rule,
            max_duration: s.max_duration,
            correction: experiment.correction,
        }
    }

    /// One line per item that differs from `now`, naming the config field.
    pub fn changes(&self, now: &PreRegistration) -> Vec<String> {
        let mut out = Vec::new();
        let mut item = |field: &str, was: String, is: String| {
            if was != is {
                out.push(format!(
                    "{field} was {was} when the experiment started and is now {is}; it cannot change while the experiment runs"
                ));
            }
        };
        // As the config spells values: "holm", 0.05, ["v1","v2"]; absent ones as "none".
        fn show<T: Serialize + std::fmt::Debug>(v: &T) -> String {
            match serde_json::to_string(v) {
                Ok(s) if s == "null" => "none".to_string(),
                Ok(s) => s,
                Err(_) => format!("{v:?}"),
            }
        }
        item("design", show(&self.design), show(&now.design));
        item("variants", show(&self.variants), show(&now.variants));
        // Shares are compared after rounding: [1, 1] and no weights are the same split.
        let round = |w: &[f64]| {
            w.iter()
                .map(|x| format!("{:.6}", x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        item(
            "weights",
            format!("[{}]", round(&self.weights)),
            format!("[{}]", round(&now.weights)),
        );
        item("primary", show(&self.primary), show(&now.primary));
        item("secondary", show(&self.secondary), show(&now.secondary));
        item("guardrails", show(&self.guardrails), show(&now.guardrails));
        item("stopping.alpha", show(&self.alpha), show(&now.alpha));
        item("stopping.power", show(&self.power), show(&now.power));
        item("stopping.mde", show(&self.mde), show(&now.mde));
        item("stopping.rule", show(&self.rule), show(&now.rule));
        let duration = |d: Option<Duration>| d.map_or("none".to_string(), |d| d.to_string());
        item(
            "stopping.max_duration",
            duration(self.max_duration),
            duration(now.max_duration),
        );
        item("correction", show(&self.correction), show(&now.correction));
        out
    }
}

/// Lists every pre-registered item that `experiment` (as configured now) changes while the
/// experiment runs. A draft or stopped experiment, or one with nothing recorded, has no
/// constraint.
pub fn check_preregistration(
    state: &ExperimentState,
    experiment: &Experiment,
) -> Result<(), Vec<String>> {
    if state.status != ExperimentStatus::Running {
        return Ok(());
    }
    let Some(recorded) = &state.preregistration else {
        return Ok(());
    };
    let changes = recorded.changes(&PreRegistration::of(experiment));
    if changes.is_empty() {
        Ok(())
    } else {
        Err(changes
            .into_iter()
            .map(|c| format!("experiment {:?}: {c}", experiment.name))
            .collect())
    }
}
