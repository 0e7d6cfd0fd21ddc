//! Every transition of the rollout state machine, legal and illegal, on hand-made assessments.

use rampart_core::config::{load_str, Format, Rollout};
use rampart_core::rollout::{
    step, Action, Assessment, Command, Input, Notification, DEFAULT_ERROR_LIMIT,
};
use rampart_core::state::{RolloutState, RolloutStatus};
use rampart_core::Millis;

const H: Millis = 3_600_000;

fn rollout(extra: &str) -> Rollout {
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

[[rollouts]]
name = "r"
model = "m"
baseline = "v1"
candidate = "v2"
stages = [
  {{ traffic = 1, min_duration = "1h", min_units = 100 }},
  {{ traffic = 5, min_duration = "1h", approval = "manual" }},
  {{ traffic = 50, min_duration = "1h", max_duration = "3h", on_timeout = "rollback" }},
  {{ traffic = 100 }},
]
gates = [{{ metric = "conversion", compare = "control", max_worsening = "2%" }}]
{extra}
"#
    );
    load_str(&text, Format::Toml, "t.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .rollouts
        .remove(0)
}

fn running(stage: usize, traffic: f64, since: Millis) -> RolloutState {
    RolloutState {
        status: RolloutStatus::Running,
        stage,
        traffic,
        started_at: Some(0),
        stage_started_at: Some(since),
        ..RolloutState::pending()
    }
}

fn passing(units: u64) -> Assessment {
    Assessment {
        all_pass: true,
        candidate_units: units,
        control_units: units,
        ..Default::default()
    }
}

fn tick(r: &Rollout, s: &RolloutState, a: &Assessment, now: Millis) -> (RolloutState, Vec<Action>) {
    step(r, s, Input::Tick(a), now).expect("ticks are always legal")
}

fn command(
    r: &Rollout,
    s: &RolloutState,
    c: Command,
    now: Millis,
) -> Result<(RolloutState, Vec<Action>), String> {
    step(
        r,
        s,
        Input::Command {
            command: c,
            actor: "ops@example",
            reason: "",
        },
        now,
    )
    .map_err(|e| e.to_string())
}

fn logged(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(d) => Some(d.action.clone()),
            _ => None,
        })
        .collect()
}

fn notified(actions: &[Action]) -> Vec<Notification> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[test]
fn a_stage_advances_only_after_duration_units_and_passing_gates() {
    let r = rollout("");
    let s = running(0, 1.0, 0);
    // Too early, too few units, or a gate not yet passing: nothing happens.
    for (a, now) in [
        (passing(1_000), H - 1),
        (passing(99), 2 * H),
        (
            Assessment {
                all_pass: false,
                candidate_units: 1_000,
                control_units: 1_000,
                ..Default::default()
            },
            2 * H,
        ),
        (
            Assessment {
                all_pass: true,
                candidate_units: 1_000,
                control_units: 99,
                ..Default::default()
            },
            2 * H,
        ),
    ] {
        let (next, actions) = tick(&r, &s, &a, now);
        assert_eq!(next, s);
        assert!(actions.is_empty(), "{actions:?}");
    }
    let (next, actions) = tick(&r, &s, &passing(100), H);
    assert_eq!(
        (next.status, next.stage, next.traffic),
        (RolloutStatus::Running, 1, 5.0)
    );
    assert_eq!(next.stage_started_at, Some(H));
    assert_eq!(logged(&actions), vec!["advance"]);
    assert_eq!(notified(&actions), vec![Notification::StageChanged]);
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert_eq!(d.from_state, "running (stage 1/4, 1%)");
    assert_eq!(d.to_state, "running (stage 2/4, 5%)");
    assert_eq!(d.actor, "controller");
}

#[test]
fn a_manual_stage_waits_for_approval_then_advances() {
    let r = rollout("");
    let s = running(1, 5.0, 0);
    let (waiting, actions) = tick(&r, &s, &passing(500), H);
    assert_eq!(waiting.status, RolloutStatus::AwaitingApproval);
    assert_eq!(waiting.traffic, 5.0, "traffic holds while waiting");
    assert_eq!(logged(&actions), vec!["await-approval"]);
    assert_eq!(notified(&actions), vec![Notification::ApprovalNeeded]);
    // Further passing looks change nothing until someone approves.
    let (same, none) = tick(&r, &waiting, &passing(900), 5 * H);
    assert_eq!(same, waiting);
    assert!(none.is_empty());
    let (next, actions) = command(&r, &waiting, Command::Approve, 6 * H).unwrap();
    assert_eq!(
        (next.status, next.stage, next.traffic),
        (RolloutStatus::Running, 2, 50.0)
    );
    assert_eq!(logged(&actions), vec!["approve"]);
    let Action::Log(d) = &actions[0] else {
        panic!()
    };
    assert_eq!(d.actor, "ops@example");
}

#[test]
fn harm_rolls_back_mid_stage_or_pauses_with_on_fail_pause() {
    let harm = Assessment {
        harm: Some("conversion is worse than -2%".into()),
        ..Default::default()
    };
    let r = rollout("");
    let s = running(0, 1.0, 0);
    let (next, actions) = tick(&r, &s, &harm, 60_000);
    assert_eq!(
        (next.status, next.traffic),
        (RolloutStatus::RolledBack, 0.0)
    );
    assert_eq!(logged(&actions), vec!["rollback"]);
    assert_eq!(notified(&actions), vec![Notification::RolledBack]);
    assert_eq!(next.reason.as_deref(), Some("conversion is worse than -2%"));

    let paused_rollout = rollout("on_fail = \"pause\"");
    let (next, actions) = tick(&paused_rollout, &s, &harm, 60_000);
    assert_eq!(next.status, RolloutStatus::Paused);
    assert_eq!(next.traffic, 1.0, "a pause keeps the traffic where it is");
    assert_eq!(logged(&actions), vec!["pause"]);
    // Harm while awaiting approval also acts.
    let waiting = RolloutState {
        status: RolloutStatus::AwaitingApproval,
        ..running(1, 5.0, 0)
    };
    assert_eq!(
        tick(&r, &waiting, &harm, H).0.status,
        RolloutStatus::RolledBack
    );
}

#[test]
fn provider_errors_hold_after_the_limit_and_reset_on_success() {
    let r = rollout("");
    let err = Assessment {
        provider_error: Some("connection refused".into()),
        ..Default::default()
    };
    let mut s = running(0, 1.0, 0);
    for i in 1..DEFAULT_ERROR_LIMIT {
        let (next, actions) = tick(&r, &s, &err, i as Millis);
        assert_eq!(next.status, RolloutStatus::Running);
        assert_eq!(next.consecutive_errors, i);
        assert!(actions.is_empty());
        s = next;
    }
    // A good look in between resets the count: the limit is of errors in a row.
    let (mut s, _) = tick(&r, &s, &Assessment::default(), 10);
    assert_eq!(s.consecutive_errors, 0);
    for i in 1..=DEFAULT_ERROR_LIMIT {
        let (next, actions) = tick(&r, &s, &err, 20 + i as Millis);
        s = next;
        if i < DEFAULT_ERROR_LIMIT {
            assert_eq!(s.status, RolloutStatus::Running, "error {i}");
            assert!(actions.is_empty());
        } else {
            assert_eq!(s.status, RolloutStatus::Paused);
            assert_eq!(logged(&actions), vec!["pause"]);
        }
    }
    let reason = s.reason.unwrap();
    assert!(
        reason.contains("failed 4 looks in a row") && reason.contains("connection refused"),
        "{reason}"
    );
}

#[test]
fn max_duration_applies_on_timeout() {
    let r = rollout("");
    let s = running(2, 50.0, 0);
    let stuck = Assessment {
        all_pass: false,
        candidate_units: 10,
        control_units: 10,
        ..Default::default()
    };
    assert_eq!(tick(&r, &s, &stuck, 3 * H - 1).0, s);
    let (next, actions) = tick(&r, &s, &stuck, 3 * H);
    assert_eq!(next.status, RolloutStatus::RolledBack);
    assert_eq!(logged(&actions), vec!["rollback"]);
    assert!(next.reason.unwrap().contains("maximum duration 3h"));
}

#[test]
fn the_last_stage_completes_the_rollout() {
    let r = rollout("");
    let s = running(3, 100.0, 0);
    let (next, actions) = tick(&r, &s, &passing(10), 1);
    assert_eq!(
        (next.status, next.traffic),
        (RolloutStatus::Completed, 100.0)
    );
    assert_eq!(logged(&actions), vec!["complete"]);
    assert_eq!(notified(&actions), vec![Notification::Completed]);
}

#[test]
fn pause_time_does_not_count_toward_the_stage() {
    let r = rollout("");
    let s = running(0, 1.0, 0);
    let (paused, _) = command(&r, &s, Command::Pause, 30 * 60_000).unwrap();
    assert_eq!(paused.resume_to, Some(RolloutStatus::Running));
    // Ticks while paused decide nothing, even with harm.
    let harm = Assessment {
        harm: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(tick(&r, &paused, &harm, 40 * 60_000).0, paused);
    let (resumed, actions) = command(&r, &paused, Command::Resume, 2 * H).unwrap();
    assert_eq!(resumed.status, RolloutStatus::Running);
    assert_eq!(resumed.paused_ms, 2 * H - 30 * 60_000);
    assert_eq!(logged(&actions), vec!["resume"]);
    // 30 minutes ran before the pause; 30 more are needed after resuming at 2h.
    assert_eq!(
        tick(&r, &resumed, &passing(500), 2 * H + 29 * 60_000)
            .0
            .stage,
        0
    );
    assert_eq!(
        tick(&r, &resumed, &passing(500), 2 * H + 30 * 60_000)
            .0
            .stage,
        1
    );
}

#[test]
fn every_command_in_every_status() {
    use Command::*;
    use RolloutStatus::*;
    let r = rollout("autostart = false");
    let base = running(1, 5.0, 0);
    let states = [
        RolloutState::pending(),
        base.clone(),
        RolloutState {
            status: AwaitingApproval,
            ..base.clone()
        },
        RolloutState {
            status: Paused,
            resume_to: Some(Running),
            paused_at: Some(10),
            ..base.clone()
        },
        RolloutState {
            status: RolledBack,
            traffic: 0.0,
            ..base.clone()
        },
        RolloutState {
            status: Completed,
            traffic: 100.0,
            stage: 3,
            ..base.clone()
        },
    ];
    // Expected (status after, logged action) or None for an illegal command; "same" means unchanged.
    let expect = |status: RolloutStatus,
                  c: Command|
     -> Option<(RolloutStatus, Option<&'static str>)> {
        match (status, c) {
            (Pending, Start) => Some((Running, Some("start"))),
            (Pending, Abort) => Some((RolledBack, Some("abort"))),
            (Pending, _) => None,
            (Running | AwaitingApproval | Paused, Start) => Some((status, None)),
            (AwaitingApproval, Approve) => Some((Running, Some("approve"))),
            (_, Approve) => None,
            (Running | AwaitingApproval | Paused, Promote) => Some((Running, Some("promote"))),
            (Running | AwaitingApproval, Pause) => Some((Paused, Some("pause"))),
            (Paused, Pause) => Some((Paused, None)),
            (Paused, Resume) => Some((Running, Some("resume"))),
            (_, Resume) => None,
            (Running | AwaitingApproval | Paused, Rollback) => Some((RolledBack, Some("rollback"))),
            (Running | AwaitingApproval | Paused, Abort) => Some((RolledBack, Some("abort"))),
            (RolledBack, Start) => Some((Running, Some("start"))),
            (RolledBack | Completed, _) => None,
        }
    };
    let mut checked = 0;
    for s in &states {
        for c in [Start, Approve, Pause, Resume, Promote, Rollback, Abort] {
            let got = command(&r, s, c, 100);
            match expect(s.status, c) {
                None => {
                    let err = got.expect_err(&format!("{c:?} in {:?} must be refused", s.status));
                    assert!(
                        err.contains(c.as_str()) && err.contains(s.status.as_str()),
                        "{err}"
                    );
                }
                Some((status, action)) => {
                    let (next, actions) =
                        got.unwrap_or_else(|e| panic!("{c:?} in {:?}: {e}", s.status));
                    assert_eq!(next.status, status, "{c:?} in {:?}", s.status);
                    assert_eq!(
                        logged(&actions),
                        action.map(|a| vec![a.to_string()]).unwrap_or_default()
                    );
                    if action.is_none() {
                        assert_eq!(&next, s, "{c:?} in {:?} must change nothing", s.status);
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 42);
}

#[test]
fn promote_from_the_last_stage_completes() {
    let r = rollout("");
    let (next, actions) = command(&r, &running(3, 100.0, 0), Command::Promote, 5).unwrap();
    assert_eq!(next.status, RolloutStatus::Completed);
    assert_eq!(logged(&actions), vec!["complete"]);
}

/// A rollout gated by a Prometheus metric (candidate at most 0.25, and at most 10% above the
/// control), looked at with hand-made readings.
mod prometheus_gates {
    use rampart_core::analysis::provider::{Reading, Readings};
    use rampart_core::analysis::{rollout_queries, Outcome};
    use rampart_core::config::{load_str, Config, Format};
    use rampart_core::rollout::look_with_readings;
    use rampart_core::state::RolloutStatus;

    use super::running;

    fn config() -> Config {
        load_str(
            r#"
[prometheus]
url = "http://127.0.0.1:9090"

[[models]]
name = "m"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "p99"
kind = "prometheus"
query = 'p99{model="{{model}}",variant="{{variant}}",stage="{{stage}}"}'
goal = "decrease"

[[rollouts]]
name = "r"
model = "m"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 10 }, { traffic = 100 }]
gates = [
  { metric = "p99", max = 0.25 },
  { metric = "p99", compare = "control", max_worsening = "10%" },
]
"#,
            Format::Toml,
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn q(variant: &str) -> String {
        format!("p99{{model=\"m\",variant=\"{variant}\",stage=\"1\"}}")
    }

    fn readings(candidate: Reading, control: Reading) -> Readings {
        [(q("v2"), candidate), (q("v1"), control)]
            .into_iter()
            .collect()
    }

    fn value(v: f64) -> Reading {
        Reading::Value { value: v }
    }

    #[test]
    fn the_look_asks_for_the_rendered_queries_of_the_current_stage() {
        let c = config();
        assert_eq!(rollout_queries(&c.rollouts[0], &c, 0), [q("v2"), q("v1")]);
        assert!(rollout_queries(&c.rollouts[0], &c, 1)[0].contains("stage=\"2\""));
    }

    #[test]
    fn good_values_pass_and_advance_with_the_values_in_the_log() {
        let c = config();
        let look = look_with_readings(
            &c.rollouts[0],
            &c,
            &running(0, 10.0, 0),
            None,
            None,
            &readings(value(0.2), value(0.19)),
            1_000,
        );
        let outcomes: Vec<Outcome> = look.verdicts.iter().map(|v| v.outcome).collect();
        assert_eq!(outcomes, [Outcome::Pass, Outcome::Pass]);
        assert_eq!(look.verdicts[0].numbers.estimate, Some(0.2));
        assert_eq!(look.verdicts[0].reads[0].query, q("v2"));
        assert_eq!(look.next.stage, 1, "the stage passed");
        let evidence = &look.assessment.evidence["verdicts"][0];
        assert_eq!(evidence["reads"][0]["reading"]["value"], 0.2);
        assert_eq!(evidence["reads"][0]["query"], q("v2"));
    }

    #[test]
    fn a_bad_value_rolls_back_at_once() {
        let c = config();
        let look = look_with_readings(
            &c.rollouts[0],
            &c,
            &running(0, 10.0, 0),
            None,
            None,
            &readings(value(0.4), value(0.2)),
            1_000,
        );
        assert_eq!(look.verdicts[0].outcome, Outcome::Fail);
        assert_eq!(look.verdicts[1].outcome, Outcome::Fail);
        assert_eq!(look.next.status, RolloutStatus::RolledBack);
        assert!(
            look.next
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("candidate 0.4, at most 0.25 allowed"),
            "{:?}",
            look.next.reason
        );
    }

    #[test]
    fn failed_queries_are_provider_errors_and_empty_ones_only_hold() {
        let c = config();
        let down = Reading::Error {
            message: "cannot reach Prometheus".into(),
        };
        let look = look_with_readings(
            &c.rollouts[0],
            &c,
            &running(0, 10.0, 0),
            None,
            None,
            &readings(down.clone(), down),
            1_000,
        );
        assert!(look
            .verdicts
            .iter()
            .all(|v| v.outcome == Outcome::Inconclusive));
        assert_eq!(
            look.assessment.provider_error.as_deref(),
            Some("p99 (candidate v2): cannot reach Prometheus")
        );
        assert_eq!(look.next.consecutive_errors, 1);
        assert_eq!(look.next.status, RolloutStatus::Running);

        let empty = Reading::NoValue {
            reason: "no series".into(),
        };
        let look = look_with_readings(
            &c.rollouts[0],
            &c,
            &running(0, 10.0, 0),
            None,
            None,
            &readings(empty, value(f64::NAN)),
            1_000,
        );
        assert!(look
            .verdicts
            .iter()
            .all(|v| v.outcome == Outcome::Inconclusive));
        assert_eq!(look.assessment.provider_error, None);
        assert_eq!(look.next.stage, 0, "an inconclusive gate never passes");
        assert_eq!(look.next.consecutive_errors, 0);
    }

    #[test]
    fn harm_acts_even_while_another_query_fails() {
        let c = config();
        let look = look_with_readings(
            &c.rollouts[0],
            &c,
            &running(0, 10.0, 0),
            None,
            None,
            &readings(
                value(0.9),
                Reading::Error {
                    message: "timeout".into(),
                },
            ),
            1_000,
        );
        assert!(look.assessment.provider_error.is_some());
        assert_eq!(look.next.status, RolloutStatus::RolledBack);
    }
}
