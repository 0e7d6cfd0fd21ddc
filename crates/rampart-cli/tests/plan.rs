//! `rampart plan` through the real binary: answers as flags, from the example file (flags
//! overriding it), typed into stdin with a bad answer re-asked, and missing answers refused with
//! one line. The printed config block is checked by `rampart validate` beside a models/metrics block.

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::support::{rampart, repo_root, run};

const BASE: &str = r#"[[models]]
name = "checkout-recs"
variants = [{ name = "v1" }, { name = "v2" }]

[[metrics]]
name = "conversion"
kind = "binary"
event = "purchase"
goal = "increase"
"#;

/// Checklist answers as flags that make interleaving lead by exactly 10 points.
const LEAD_BY_TEN: [&str; 14] = [
    "--traffic-volume",
    "5",
    "--risk-tolerance",
    "5",
    "--infrastructure-maturity",
    "4",
    "--team-expertise",
    "3",
    "--monitoring-capability",
    "3",
    "--iteration-speed",
    "3",
    "--stakeholder-alignment",
    "3",
];

const NUMBERS: [&str; 8] = [
    "--units-per-day",
    "100000",
    "--baseline-rate",
    "0.1",
    "--mde",
    "0.1",
    "--model",
    "checkout-recs",
];

fn plan(extra: &[&str]) -> Output {
    let mut args = vec!["plan"];
    args.extend_from_slice(extra);
    run(&args)
}

fn json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
}

/// Writes the block beside the models and metrics and runs `rampart validate` on it.
fn assert_validates(snippet: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rampart.toml");
    std::fs::write(&path, format!("{BASE}\n{snippet}")).unwrap();
    let out = run(&["validate", path.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{snippet}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plan_with_flags_recommends_and_prints_a_block_that_validates() {
    let mut args: Vec<&str> = LEAD_BY_TEN.to_vec();
    args.extend_from_slice(&NUMBERS);
    args.push("--json");
    let got = json(&plan(&args));
    assert_eq!(got["checklist"]["lead"], 10);
    assert_eq!(got["checklist"]["recommendation"], "interleaving");
    // statsmodels: NormalIndPower().solve_power(proportion_effectsize(0.11, 0.10), power=0.8,
    // alpha=0.05) = 14744.10 → 14,745 per arm; 29,490 units at 100,000 a day → 1 day.
    assert_eq!(got["numbers"]["split"]["units_per_arm"], 14_745);
    assert_eq!(got["numbers"]["split"]["days"], 1);
    assert_eq!(got["numbers"]["staged"]["gate_units_per_arm"], 10_624);
    let snippet = got["snippet"].as_str().unwrap();
    assert!(snippet.starts_with("[[experiments]]\n"), "{snippet}");
    assert!(snippet.contains("design = \"split\""), "{snippet}");
    assert_validates(snippet);

    // One point less on infrastructure: 8 ahead is not enough, so a staged rollout.
    args[5] = "3";
    args.extend_from_slice(&["--ranking"]);
    let got = json(&plan(&args));
    assert_eq!(got["checklist"]["lead"], 8);
    assert_eq!(got["checklist"]["recommendation"], "staged-rollout");
    let snippet = got["snippet"].as_str().unwrap();
    assert!(snippet.starts_with("[[rollouts]]\n"), "{snippet}");
    assert!(snippet.contains("min_units = 10624"), "{snippet}");
    assert_validates(snippet);
}

#[test]
fn plan_prints_tables_for_people() {
    let mut args: Vec<&str> = LEAD_BY_TEN.to_vec();
    args.extend_from_slice(&NUMBERS);
    args.push("--ranking");
    let out = plan(&args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RECOMMENDATION: interleaving"), "{text}");
    let total = text
        .lines()
        .find(|l| l.starts_with("total "))
        .expect("a total row");
    let cells: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(cells, ["total", "26", "16"]);
    let split = text
        .lines()
        .find(|l| l.starts_with("split test, fixed horizon"))
        .expect(&text);
    assert!(split.contains("14,745"), "{split}");
    let block = &text[text.find("[[experiments]]").expect(&text)..];
    assert!(block.contains("design = \"team-draft\""), "{block}");
    assert_validates(block);
}

#[test]
fn plan_reads_the_example_file_and_flags_override_it() {
    let file = repo_root().join("examples/plan/answers.toml");
    let file = file.to_str().unwrap();
    let got = json(&plan(&["--answers", file, "--json"]));
    assert_eq!(got["checklist"]["lead"], -4);
    assert_eq!(got["checklist"]["recommendation"], "staged-rollout");
    assert_eq!(got["input"]["numbers"]["units_per_day"], 250_000.0);
    assert_eq!(got["input"]["names"]["model"], "checkout-recs");
    assert_validates(got["snippet"].as_str().unwrap());

    let got = json(&plan(&[
        "--answers",
        file,
        "--risk-tolerance",
        "5",
        "--monitoring-capability",
        "1",
        "--stakeholder-alignment",
        "5",
        "--json",
    ]));
    // 4 + 5 + 3 + 3 + 5 + 3 + 5 = 28 against 14.
    assert_eq!(got["checklist"]["interleaving"], 28);
    assert_eq!(got["checklist"]["staged"], 14);
    assert_eq!(got["checklist"]["recommendation"], "interleaving");
    let snippet = got["snippet"].as_str().unwrap();
    assert!(snippet.contains("design = \"team-draft\""), "{snippet}");
    assert_validates(snippet);
}

#[test]
fn plan_asks_on_stdin_and_asks_again_after_a_bad_answer() {
    let mut child = rampart()
        .args([
            "plan",
            "--interactive",
            "--json",
            "--units-per-day",
            "100000",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Seven answers (the second one bad, then corrected), then baseline rate and mde.
    let answers = "5\n9\n5\n4\n3\n3\n3\n3\n0.1\n0.1\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answers.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let got = json(&out);
    assert_eq!(got["checklist"]["lead"], 10);
    assert_eq!(got["input"]["answers"][1], 5);
    assert_eq!(got["numbers"]["split"]["units_per_arm"], 14_745);
    let prompts = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        prompts.matches("risk tolerance:").count(),
        2,
        "asked again: {prompts}"
    );
    assert!(prompts.contains("[1-5]: "), "{prompts}");
    assert!(prompts.contains("a whole number from 1 to 5"), "{prompts}");
    assert!(
        !prompts.contains("units per day:"),
        "given as a flag: {prompts}"
    );
}

#[test]
fn plan_without_every_answer_fails_with_one_line() {
    let out = plan(&["--traffic-volume", "4", "--mde", "0.05"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("rampart: missing answers: risk-tolerance, infrastructure-maturity, "),
        "{stderr}"
    );
    assert!(
        stderr.contains("stakeholder-alignment, units-per-day, baseline-rate;"),
        "{stderr}"
    );
    assert!(!stderr.contains("traffic-volume"), "{stderr}");

    // Input ending while questions remain fails the same way.
    let out = plan(&["--interactive"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "rampart: input ended before an answer to traffic-volume"
    );
}

#[test]
fn plan_refuses_a_bad_value_with_one_line() {
    let mut args: Vec<&str> = LEAD_BY_TEN.to_vec();
    args.extend_from_slice(&["--units-per-day", "1000", "--mde", "0.1"]);
    args.extend_from_slice(&["--baseline-rate", "1.5"]);
    let out = plan(&args);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "rampart: --baseline-rate: baseline-rate: 1.5 is not valid: expected a rate strictly between 0 and 1"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("answers.toml");
    std::fs::write(&path, "[checklist]\ntraffic_volume = 4\nteam = 3\n").unwrap();
    let out = plan(&["--answers", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "rampart: {}: line 3: checklist.team: unknown answer `team`",
            path.display()
        )
    );
}
