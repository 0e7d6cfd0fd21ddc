//! `rampart simulate SCENARIO.toml`: loads a scenario, plays the release strategies over many
//! seeds (both cores, one seed per job), prints the per-strategy table (or JSON), and writes a
//! hand-made SVG chart. The simulation itself is `rampart-sim`'s; this is loading, threads, a
//! progress bar on a terminal's stderr, and output.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use rampart_sim::{
    parse_scenario, planned_units_per_arm, run_seed, summarize, Scenario, StrategyKind,
    StrategyRun, StrategySummary,
};

use crate::exit::outln;
use crate::table;

#[derive(Args)]
pub struct SimulateArgs {
    /// The scenario file (TOML); see docs/simulate.md.
    pub scenario: PathBuf,
    /// Seeds to run (overrides run.seeds).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Comma-separated strategies: rampart, fixed-threshold, fixed-horizon-ab, sequential-ab,
    /// interleaving (default: all that apply).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Write an SVG chart of the results here.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn simulate(args: &SimulateArgs) -> Result<(), String> {
    let path = &args.scenario;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let scenario = parse_scenario(&text, &path.display().to_string()).map_err(|errors| {
        let n = errors.0.len();
        format!("{errors}\n{n} error(s) in {}", path.display())
    })?;
    let kinds = strategies(&args.strategies, &scenario)?;
    let seeds = args.seeds.unwrap_or(scenario.seeds);
    if seeds == 0 {
        return Err("--seeds must be at least 1".to_string());
    }
    let runs = run_all(&scenario, &kinds, seeds)?;
    let summaries = summarize(&runs, &kinds, scenario.world.horizon_ms);
    if let Some(chart_path) = &args.chart {
        let svg = chart(&scenario.name, &summaries);
        std::fs::write(chart_path, svg)
            .map_err(|e| format!("cannot write {}: {e}", chart_path.display()))?;
    }
    if args.json {
        let body = serde_json::json!({
            "scenario": scenario.name,
            "description": scenario.description,
            "seeds": seeds,
            "first_seed": scenario.first_seed,
            "horizon_hours": scenario.world.horizon_ms as f64 / 3_600_000.0,
            "baseline": scenario.baseline,
            "candidate": scenario.candidate,
            "candidate_worse": scenario.candidate_worse(),
            "ab_units_per_arm": planned_units_per_arm(&scenario).ok(),
            "strategies": summaries,
            "runs": runs,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    print(&scenario, seeds, &summaries);
    Ok(())
}

fn strategies(names: &[String], scenario: &Scenario) -> Result<Vec<StrategyKind>, String> {
    if names.is_empty() {
        return Ok(StrategyKind::ALL
            .into_iter()
            .filter(|k| *k != StrategyKind::Interleaving || scenario.ranking.is_some())
            .collect());
    }
    let valid: Vec<&str> = StrategyKind::ALL.iter().map(|k| k.name()).collect();
    let mut out = Vec::new();
    for n in names {
        let kind = StrategyKind::parse(n.trim()).ok_or_else(|| {
            format!(
                "--strategies: unknown strategy {n:?}; valid: {}",
                valid.join(", ")
            )
        })?;
        if kind == StrategyKind::Interleaving && scenario.ranking.is_none() {
            return Err(
                "--strategies: interleaving needs rankers: add a [ranking] section to the scenario"
                    .to_string(),
            );
        }
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

/// A seed and its runs.
type SeedResult = (u64, Result<Vec<StrategyRun>, String>);

/// Runs every seed on both cores; results in seed order.
fn run_all(
    scenario: &Scenario,
    kinds: &[StrategyKind],
    seeds: u64,
) -> Result<Vec<StrategyRun>, String> {
    let next = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<SeedResult>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(seeds as usize)
        .max(1);
    let progress = std::io::stderr().is_terminal();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= seeds {
                    break;
                }
                let seed = scenario.first_seed + i;
                let r = run_seed(scenario, kinds, seed);
                if let Ok(mut all) = results.lock() {
                    all.push((seed, r));
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        if progress {
            loop {
                let d = done.load(Ordering::Relaxed) as u64;
                bar(d, seeds);
                if d >= seeds {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            eprint!("\r\x1b[2K");
        }
    });
    let mut all = results.into_inner().map_err(|_| "a worker failed")?;
    all.sort_by_key(|(seed, _)| *seed);
    let mut out = Vec::new();
    for (seed, r) in all {
        out.extend(r.map_err(|e| format!("seed {seed}: {e}"))?);
    }
    Ok(out)
}

fn bar(done: u64, total: u64) {
    let width = 30;
    let filled = (done * width / total.max(1)) as usize;
    eprint!(
        "\r[{}{}] {done}/{total} seeds",
        "#".repeat(filled),
        ".".repeat(width as usize - filled)
    );
    let _ = std::io::stderr().flush();
}

fn rate(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn print(scenario: &Scenario, seeds: u64, summaries: &[StrategySummary]) {
    outln!("scenario {}: {}", scenario.name, scenario.description);
    outln!(
        "{} seeds from seed {}, horizon {:.0}h; candidate {} is {} than baseline {} by the true effects",
        seeds,
        scenario.first_seed,
        scenario.world.horizon_ms as f64 / 3_600_000.0,
        scenario.candidate,
        if scenario.candidate_worse() {
            "worse"
        } else {
            "not worse"
        },
        scenario.baseline
    );
    table::print(
        &[
            "STRATEGY",
            "PROMOTED",
            "ROLLED BACK",
            "UNDECIDED",
            "HOURS P50",
            "HOURS P90",
            "WORSE UNITS (MEAN)",
            "FALSE ROLLBACK",
            "FALSE PROMOTION",
        ],
        summaries.iter().map(|s| {
            vec![
                s.strategy.name().to_string(),
                s.promoted.to_string(),
                s.rolled_back.to_string(),
                s.undecided.to_string(),
                format!("{:.1}", s.hours_to_decision_median),
                format!("{:.1}", s.hours_to_decision_p90),
                format!("{:.0}", s.worse_units_mean),
                rate(s.false_rollback_rate),
                rate(s.false_promotion_rate),
            ]
        }),
    );
    if summaries.iter().any(|s| s.undecided > 0) {
        outln!("undecided runs count at the horizon in the hours columns");
    }
}

/// Escapes text for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum ≥ `v`: 1, 2 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * p)
}

/// Two panels of bars, one bar per strategy: mean units exposed to a worse model, and median
/// hours to a decision (with the p90 as a tick). Each bar carries `data-value` with its number.
pub fn chart(title: &str, summaries: &[StrategySummary]) -> String {
    const W: f64 = 820.0;
    const H: f64 = 420.0;
    const TOP: f64 = 70.0;
    const PLOT_H: f64 = 260.0;
    const PANEL_W: f64 = 340.0;
    const LEFT: [f64; 2] = [80.0, 470.0];
    const COLORS: [&str; 5] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
    let mut out = String::new();
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    out.push_str(&format!(
        "<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n<text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        W / 2.0,
        xml(&format!("rampart simulate: {title}"))
    ));
    let panels: [(&str, &str, Vec<f64>); 2] = [
        (
            "units exposed to a worse model (mean)",
            "units",
            summaries.iter().map(|s| s.worse_units_mean).collect(),
        ),
        (
            "time to decision (median, p90 tick)",
            "hours",
            summaries
                .iter()
                .map(|s| s.hours_to_decision_median)
                .collect(),
        ),
    ];
    let n = summaries.len().max(1) as f64;
    let slot = PANEL_W / n;
    let bar_w = slot * 0.6;
    for (p, (label, unit, values)) in panels.iter().enumerate() {
        let left = LEFT[p];
        let mut top_value = values.iter().copied().fold(0.0, f64::max);
        if p == 1 {
            top_value = summaries
                .iter()
                .map(|s| s.hours_to_decision_p90)
                .fold(top_value, f64::max);
        }
        let max = nice_max(top_value);
        let base = TOP + PLOT_H;
        out.push_str(&format!(
            "<g class=\"panel\" data-metric=\"{unit}\">\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
            left + PANEL_W / 2.0,
            TOP - 14.0,
            xml(label)
        ));
        // Axes and gridlines with labels at 0, 1/4, ... of the maximum.
        for i in 0..=4 {
            let v = max * f64::from(i) / 4.0;
            let y = base - PLOT_H * f64::from(i) / 4.0;
            out.push_str(&format!(
                "<line x1=\"{left}\" y1=\"{y:.2}\" x2=\"{:.2}\" y2=\"{y:.2}\" stroke=\"#ddd\"/>\n<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\">{}</text>\n",
                left + PANEL_W,
                left - 6.0,
                y + 4.0,
                axis_label(v)
            ));
        }
        out.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{TOP}\" x2=\"{left}\" y2=\"{base}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"{base}\" x2=\"{:.2}\" y2=\"{base}\" stroke=\"black\"/>\n<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\" transform=\"rotate(-90 {:.2} {:.2})\">{unit}</text>\n",
            left + PANEL_W,
            left - 52.0,
            TOP + PLOT_H / 2.0,
            left - 52.0,
            TOP + PLOT_H / 2.0
        ));
        for (i, (s, &v)) in summaries.iter().zip(values).enumerate() {
            let h = PLOT_H * v / max;
            let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
            out.push_str(&format!(
                "<rect class=\"bar\" data-strategy=\"{}\" data-value=\"{v}\" x=\"{x:.2}\" y=\"{:.4}\" width=\"{bar_w:.2}\" height=\"{h:.4}\" fill=\"{}\"/>\n",
                s.strategy.name(),
                base - h,
                COLORS[i % COLORS.len()]
            ));
            out.push_str(&format!(
                "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n",
                x + bar_w / 2.0,
                base - h - 4.0,
                axis_label(v)
            ));
            if p == 1 {
                let y = base - PLOT_H * s.hours_to_decision_p90 / max;
                out.push_str(&format!(
                    "<line class=\"p90\" x1=\"{:.2}\" y1=\"{y:.2}\" x2=\"{:.2}\" y2=\"{y:.2}\" stroke=\"black\" stroke-width=\"2\"/>\n",
                    x,
                    x + bar_w
                ));
            }
        }
        out.push_str("</g>\n");
    }
    // Legend: one swatch per strategy.
    let legend_y = TOP + PLOT_H + 40.0;
    for (i, s) in summaries.iter().enumerate() {
        let x = 80.0 + 150.0 * i as f64;
        out.push_str(&format!(
            "<rect x=\"{x}\" y=\"{legend_y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n<text x=\"{}\" y=\"{}\">{}</text>\n",
            COLORS[i % COLORS.len()],
            x + 18.0,
            legend_y + 11.0,
            xml(s.strategy.name())
        ));
    }
    out.push_str("</svg>\n");
    out
}

fn axis_label(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        assert_eq!(xml("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
