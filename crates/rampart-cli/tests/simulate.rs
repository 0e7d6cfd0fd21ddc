//! `rampart simulate` through the real binary: JSON output, the SVG chart (well-formed, with bar
//! heights matching the JSON numbers), the table, and one-line errors for bad scenarios and flags.

use serde_json::Value;

use crate::support::{repo_root, run};

/// Minimal XML check: every tag opened is closed in order, and attribute quotes balance.
fn well_formed(svg: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or("unclosed tag")? + start;
        let tag = &rest[start + 1..end];
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
        rest = &rest[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

#[test]
fn simulate_writes_json_and_a_chart_whose_bars_match_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.svg");
    let scenario = repo_root().join("examples/scenarios/bad-fraud-model.toml");
    let out = run(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--seeds",
        "3",
        "--strategies",
        "rampart,fixed-horizon-ab",
        "--json",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["seeds"], 3);
    assert_eq!(body["candidate_worse"], true);
    let strategies = body["strategies"].as_array().unwrap();
    let names: Vec<&str> = strategies
        .iter()
        .map(|s| s["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rampart", "fixed-horizon-ab"]);
    assert_eq!(body["runs"].as_array().unwrap().len(), 6);

    let svg = std::fs::read_to_string(&chart).unwrap();
    well_formed(&svg).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains("bad-fraud-model") && svg.contains("units exposed to a worse model"));
    let bars: Vec<&str> = svg
        .split('<')
        .filter(|t| t.starts_with("rect class=\"bar\""))
        .collect();
    assert_eq!(bars.len(), 4, "two panels of two bars");
    // Per panel: the bar's value is the JSON figure and heights are proportional to values.
    for (panel, key) in [(0, "worse_units_mean"), (1, "hours_to_decision_median")] {
        let mine = &bars[panel * 2..panel * 2 + 2];
        let mut scale = None;
        for (bar, s) in mine.iter().zip(strategies) {
            assert_eq!(
                attr(bar, "data-strategy").as_deref(),
                s["strategy"].as_str()
            );
            let value: f64 = attr(bar, "data-value").unwrap().parse().unwrap();
            let expected = s[key].as_f64().unwrap();
            assert!(
                (value - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{key}: {value} vs {expected}"
            );
            let height: f64 = attr(bar, "height").unwrap().parse().unwrap();
            let y: f64 = attr(bar, "y").unwrap().parse().unwrap();
            // Bars stand on the same baseline.
            assert!(
                (y + height - 330.0).abs() < 1e-3,
                "bar bottom {}",
                y + height
            );
            if value > 0.0 {
                let k = height / value;
                let k0 = *scale.get_or_insert(k);
                assert!(
                    (k - k0).abs() < 1e-3 * k0,
                    "{key}: heights not proportional"
                );
            }
        }
    }
    // rampart exposes fewer units to the bad model than the A/B test: its bar is shorter.
    let h = |i: usize| attr(bars[i], "height").unwrap().parse::<f64>().unwrap();
    assert!(h(0) < h(1));
}

#[test]
fn simulate_prints_a_table() {
    let scenario = repo_root().join("examples/scenarios/bad-fraud-model.toml");
    let out = run(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--seeds",
        "2",
        "--strategies",
        "rampart",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("STRATEGY") && text.contains("FALSE PROMOTION"),
        "{text}"
    );
    let row = text.lines().find(|l| l.starts_with("rampart")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    // promoted, rolled back, undecided
    assert_eq!(&cells[1..4], ["0", "2", "0"], "{row}");
    // Not a terminal: no progress bar.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn simulate_refuses_bad_scenarios_and_flags_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[traffic]\nunits_per_hour = 100\n\n[baseline]\nname = \"v1\"\nconversion = 0.1\n\n[candidate]\nname = \"v2\"\nconversion = 2\n\n[run]\nhorizon = \"1d\"\n",
    )
    .unwrap();
    let out = run(&["simulate", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:10: candidate.conversion: 2 is out of range: expected a probability from 0 to 1"),
        "{err}"
    );

    let good = repo_root().join("examples/scenarios/null-change.toml");
    let out = run(&[
        "simulate",
        good.to_str().unwrap(),
        "--strategies",
        "rampart,magic",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown strategy \"magic\"") && err.contains("sequential-ab"),
        "{err}"
    );
    let out = run(&[
        "simulate",
        good.to_str().unwrap(),
        "--strategies",
        "interleaving",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("[ranking]"));
}
