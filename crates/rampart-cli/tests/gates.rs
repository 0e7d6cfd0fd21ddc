//! `rampart validate` on comparison gates, through the real binary: a compared metric without a
//! goal is refused with the fix, and a gate that can only pass by improving is warned about.

use crate::support::run;

const CONFIG: &str = r#"[[models]]
name = "recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "error_rate"
kind = "ratio"
numerator = "error"
denominator = "request"
GOAL

[[rollouts]]
name = "r"
model = "recs"
baseline = "v1"
candidate = "v2"
stages = [{ traffic = 10 }, { traffic = 100 }]
gates = [{ metric = "error_rate", compare = "control"TOLERANCE }]
"#;

fn validate(goal: &str, tolerance: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.toml");
    let text = CONFIG.replace("GOAL", goal).replace("TOLERANCE", tolerance);
    std::fs::write(&path, text).unwrap();
    let out = run(&["validate", path.to_str().unwrap()]);
    let file = path.display().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).replace(&file, "FILE");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&file, "FILE");
    (out.status.code(), stdout, stderr)
}

#[test]
fn validate_refuses_a_comparison_without_goal_and_warns_on_a_gate_that_needs_an_improvement() {
    let (code, stdout, stderr) = validate("", ", max_worsening = \"25%\"");
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "FILE:5: metrics[0].goal: metric \"error_rate\" is compared with the control (rollouts[0].gates[0]) but has no goal, so which direction is worse is unknown: the name reads like an error rate, so probably goal = \"decrease\" (lower is better); goal = \"increase\" if higher is better\n"
    );
    assert_eq!(stderr.trim(), "rampart: 1 error(s) in FILE");

    let (code, stdout, _) = validate("goal = \"decrease\"", "");
    assert_eq!(
        code,
        Some(0),
        "a warning does not fail validation: {stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("warning: FILE:18: rollouts[0].gates[0].max_worsening: no max_worsening is set, so no worsening is allowed: this gate passes only once the candidate is shown better than the control"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "ok, with 1 warning(s)");

    let (code, stdout, _) = validate("goal = \"decrease\"", ", margin = 0.25");
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("rollouts[0].gates[0].margin: `margin` is replaced by `max_worsening`")
            && stdout.contains("to allow 25% worse write max_worsening = \"25%\""),
        "{stdout}"
    );

    let (code, stdout, _) = validate("goal = \"decrease\"", ", max_worsening = \"25%\"");
    assert_eq!((code, stdout.as_str()), (Some(0), "ok\n"));
}
