//! `rampart demo`: the whole system in one process. It starts rampart on the embedded store with
//! the demo config (`examples/demo.toml`, endpoints filled in), the toy model servers
//! ([`toy`]) and simulated users ([`traffic`]) on an accelerated clock, then shows the three
//! stories as they happen — a bad fraud scorer rolled back, a better recommender promoted, a
//! search bake-off whose winner is handed to a staged rollout — and ends with every decision and
//! how to look again.
//!
//! The terminal shows one status line per workflow, redrawn in place on a terminal (printed every
//! two demo hours otherwise), and one line per decision as it is logged. Everything it shows comes
//! from the public API (`/v1/rollouts`, `/v1/experiments/{name}`, `/v1/decisions`, and
//! `/v1/proxy/fraud-scorer` for what the model proxy measured of the fraud scorer).

mod toy;
mod traffic;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rampart_core::Millis;
use serde_json::Value;

use crate::exit::{out, outln};

/// The demo config, with placeholder endpoints for the toy servers.
const CONFIG: &str = include_str!("../../../../examples/demo.toml");
/// Marks a data directory as a demo's: a later demo may replace what it holds.
const MARKER: &str = ".rampart-demo";
const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// The story must be told within this much demo time.
const MAX_DEMO_HOURS: Millis = 40;
/// After the hand-off, the shipped ranker's rollout runs at least this long (demo time).
const SHIP_WATCH: Millis = 2 * HOUR;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the demo keeps its data and config: a new or empty directory, or a previous demo's
    /// (replaced). Default: a fresh directory under the system's temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to serve the API and dashboard on (default 127.0.0.1:8080 if free, else any port).
    #[arg(long)]
    pub listen: Option<String>,
    /// How many times faster than real time the demo's clock runs (600: an hour in 6 s).
    #[arg(long, default_value_t = 600.0)]
    pub speed: f64,
    /// Seed of the simulated world and its users.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Visits per demo hour at the busiest time of day.
    #[arg(long, default_value_t = 30_000.0)]
    pub visits_per_hour: f64,
    /// Exit when the story is told instead of serving the dashboard until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

/// Runs the demo; `Err` (exit code 1) when the story did not complete.
pub fn demo(args: &DemoArgs) -> Result<(), String> {
    if !(args.visits_per_hour.is_finite() && args.visits_per_hour >= 1.0) {
        return Err(format!(
            "--visits-per-hour must be a number of at least 1, got {}",
            args.visits_per_hour
        ));
    }
    // Checked before anything is created: a refused start leaves nothing behind.
    rampart_server::Acceleration::new(0, args.speed).map_err(|e| format!("--speed: {e}"))?;
    let (dir, fresh) = prepare_data_dir(args.data_dir.as_deref())?;
    init_logs(&dir)?;
    let wall = rampart_server::wall_ms();
    let start = demo_start(wall);
    rampart_server::accelerate(start, args.speed).map_err(|e| format!("--speed: {e}"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let endpoints = runtime
        .block_on(toy::start(args.seed))
        .map_err(|e| format!("cannot start the toy model servers: {e}"))?;
    let listen = match &args.listen {
        Some(l) => l.clone(),
        None if std::net::TcpListener::bind("127.0.0.1:8080").is_ok() => {
            "127.0.0.1:8080".to_string()
        }
        None => "127.0.0.1:0".to_string(),
    };
    let config_path = dir.join("demo.toml");
    let write_config = |listen: &str| {
        std::fs::write(&config_path, demo_config(&endpoints, listen, &dir))
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))
    };
    write_config(&listen)?;
    std::fs::write(dir.join(MARKER), "rampart demo data directory\n")
        .map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;
    let running = runtime
        .block_on(rampart_server::start(rampart_server::Options {
            config_path: config_path.clone(),
            data_dir: Some(dir.clone()),
            listen: Some(listen.clone()),
            store_url: None,
        }))
        .map_err(|e| e.to_string())?;
    let addr = running.addr;
    if listen.ends_with(":0") {
        write_config(&addr.to_string())?;
    }
    let base = format!("http://{addr}");

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        runtime.spawn(async move {
            wait_for_stop_signal().await;
            flag.store(true, Ordering::Release);
        });
    }

    outln!(
        "rampart demo: a shop with three models, on a clock {}x faster than real time",
        args.speed
    );
    outln!(
        "  data:      {}{}",
        dir.display(),
        if fresh {
            ""
        } else {
            " (a previous demo's data, replaced)"
        }
    );
    outln!("  config:    {}", config_path.display());
    outln!("  logs:      {}", dir.join("demo.log").display());
    outln!("  dashboard: {base}/");
    outln!("  (Ctrl-C stops the demo)");
    outln!();

    let traffic = traffic::start(
        traffic::Plan {
            rampart: base.clone(),
            endpoints,
            seed: args.seed,
            users: 200_000,
            peak_visits_per_hour: args.visits_per_hour,
            workers: 16,
            batch: 10,
        },
        rampart_server::now_ms,
    );
    let clock = DemoClock {
        start,
        speed: args.speed,
        real_start: Instant::now(),
    };
    let outcome = watch(&base, &clock, &traffic.stats, &interrupted);
    let stats = traffic.stats.clone();
    traffic.stop();

    let decisions = fetch(&base, "/v1/decisions?limit=1000")
        .map(|d| d["decisions"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default();
    let proxied = fetch(&base, "/v1/proxy/fraud-scorer").unwrap_or(Value::Null);
    print_summary(&clock, &decisions, &outcome, &stats, &proxied);
    outln!();
    outln!(
        "Data and config are in {}. Look again at any time:",
        dir.display()
    );
    outln!(
        "  rampart serve --config {} --data-dir {}",
        config_path.display(),
        dir.display()
    );
    outln!("      serves the demo's data again (at real speed), on {addr}; then:");
    outln!("  rampart log --server {base}");
    outln!("  rampart report search-bakeoff --server {base}");
    outln!("  rampart report recs-v2 --server {base}");
    outln!(
        "  rampart export --data-dir {} --out {}",
        dir.display(),
        dir.join("export").display()
    );
    outln!("      every exposure, outcome event, impression and decision as CSV");

    if args.exit || interrupted.load(Ordering::Acquire) {
        runtime.block_on(running.shutdown());
    } else {
        outln!();
        outln!("Serving the API and dashboard at {base}/ until Ctrl-C.");
        let _ = std::io::stdout().flush();
        runtime.block_on(running.until_signal());
    }
    match outcome {
        Outcome::Told => Ok(()),
        Outcome::Failed(why) => Err(format!("the story did not complete: {why}")),
    }
}

/// The demo's clock starts at 08:00 UTC two days before today, so a demo of up to 40 demo hours
/// lies in the past when its data is served again at real speed.
pub fn demo_start(wall: Millis) -> Millis {
    wall.div_euclid(DAY) * DAY - 2 * DAY + 8 * HOUR
}

/// The demo config with the toy servers' real endpoints, the address and the data directory.
fn demo_config(endpoints: &toy::Endpoints, listen: &str, dir: &Path) -> String {
    let mut text = CONFIG.to_string();
    for (i, t) in toy::TOYS.iter().enumerate() {
        // Quoted, so that port 9301 never matches the start of another one.
        let placeholder = format!("\"http://127.0.0.1:{}\"", toy::example_port(i));
        if let Some(url) = endpoints.get(&(t.model.to_string(), t.variant.to_string())) {
            text = text.replace(&placeholder, &format!("\"{url}\""));
        }
    }
    let dir = dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    text.replace(
        "listen = \"127.0.0.1:8080\"",
        &format!("listen = \"{listen}\""),
    )
    .replace(
        "data_dir = \"./rampart-demo\"",
        &format!("data_dir = \"{dir}\""),
    )
}

/// The data directory to use, and whether it was new or empty (not a previous demo's).
fn prepare_data_dir(dir: Option<&Path>) -> Result<(PathBuf, bool), String> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let stamp = rampart_server::wall_ms();
            std::env::temp_dir().join(format!("rampart-demo-{stamp}-{}", std::process::id()))
        }
    };
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !names.is_empty() {
            if !names.iter().any(|n| n == MARKER) {
                return Err(format!(
                    "{} is not empty and is not a previous demo's data directory; give --data-dir a new or empty directory",
                    dir.display()
                ));
            }
            // Only what a demo writes is removed; anything else makes it refuse.
            let ours = |n: &str| {
                n == MARKER
                    || n == "demo.toml"
                    || n == "demo.log"
                    || n == "rampart.lock"
                    || n.starts_with("rampart.db")
            };
            if let Some(other) = names.iter().find(|n| !ours(n)) {
                return Err(format!(
                    "{} holds {other:?}, which a demo does not write; give --data-dir a new or empty directory",
                    dir.display()
                ));
            }
            // A demo (or server) still running on it holds the store's lock: leave it alone.
            if let Err(e) = rampart_store::SqliteStore::open(&dir) {
                return Err(format!(
                    "cannot reuse {}: {e}; give --data-dir another directory",
                    dir.display()
                ));
            }
            for n in &names {
                match std::fs::remove_file(dir.join(n)) {
                    // Closing the store may already have removed its write-ahead log.
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!("cannot clear {}: {e}", dir.join(n).display()))
                    }
                    _ => {}
                }
            }
            return Ok((absolute(dir)?, false));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok((absolute(dir)?, true))
}

fn absolute(dir: PathBuf) -> Result<PathBuf, String> {
    std::fs::canonicalize(&dir).map_err(|e| format!("cannot resolve {}: {e}", dir.display()))
}

/// The server's logs go to `demo.log` in the data directory, so the terminal shows the story.
fn init_logs(dir: &Path) -> Result<(), String> {
    let path = dir.join("demo.log");
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The demo's clock, for showing times.
struct DemoClock {
    start: Millis,
    speed: f64,
    real_start: Instant,
}

impl DemoClock {
    /// `day 1 08:00`: demo days count from the demo's first day.
    fn demo_time(&self, ts: Millis) -> String {
        let day = (ts.div_euclid(DAY) - self.start.div_euclid(DAY)) + 1;
        let in_day = ts.rem_euclid(DAY);
        format!(
            "day {day} {:02}:{:02}",
            in_day / HOUR,
            (in_day % HOUR) / 60_000
        )
    }

    /// Real time since the demo started at which the demo's clock read `ts`.
    fn real_offset(&self, ts: Millis) -> String {
        let secs = ((ts - self.start) as f64 / self.speed / 1_000.0).max(0.0);
        format!("+{}:{:02}", secs as u64 / 60, secs as u64 % 60)
    }
}

/// How the story ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Told,
    Failed(String),
}

/// Where the story stands, from the rollouts and the bake-off as the API shows them.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Going,
    /// Every part happened; the shipped ranker has been watched long enough.
    Done,
    Failed(String),
}

/// Judges the story: fraud-v2 rolled back, recs-v2 completed, the bake-off's winner the truly best
/// ranker and handed to search-ship, which then runs for [`SHIP_WATCH`] or to its end.
pub fn assess_story(rollouts: &[Value], bakeoff: &Value, now: Millis) -> Progress {
    let rollout = |name: &str| rollouts.iter().find(|r| r["name"] == name);
    let status = |name: &str| {
        rollout(name)
            .and_then(|r| r["status"].as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    let (fraud, recs, ship) = (status("fraud-v2"), status("recs-v2"), status("search-ship"));
    if fraud == "completed" {
        return Progress::Failed("fraud-v2 reached 100% although v2 is worse".into());
    }
    if recs == "rolled-back" {
        return Progress::Failed("recs-v2 was rolled back although v2 is better".into());
    }
    if bakeoff["status"] == "stopped" {
        match bakeoff["winner"].as_str() {
            Some("neural") => {}
            Some(other) => {
                return Progress::Failed(format!(
                    "the bake-off declared {other} the winner, not the truly best ranker neural"
                ))
            }
            None => {
                return Progress::Failed(format!(
                    "the bake-off stopped without a winner: {}",
                    bakeoff["reason"].as_str().unwrap_or("no reason given")
                ))
            }
        }
    }
    let handed_over = bakeoff["winner"] == "neural" && ship != "pending" && ship != "unknown";
    let ship_watched = matches!(ship.as_str(), "completed" | "rolled-back")
        || rollout("search-ship")
            .and_then(|r| r["started_at"].as_i64())
            .is_some_and(|t| now - t >= SHIP_WATCH);
    if fraud == "rolled-back" && recs == "completed" && handed_over && ship_watched {
        Progress::Done
    } else {
        Progress::Going
    }
}

fn fetch(base: &str, path: &str) -> Result<Value, String> {
    let url = format!("{base}{path}");
    ureq::get(&url)
        .timeout(Duration::from_secs(30))
        .call()
        .map_err(|e| format!("{url}: {e}"))?
        .into_json()
        .map_err(|e| format!("{url}: {e}"))
}

/// Polls the API, prints decisions and status lines, until the story is told, fails, runs out of
/// demo time or is interrupted.
fn watch(
    base: &str,
    clock: &DemoClock,
    stats: &traffic::Stats,
    interrupted: &AtomicBool,
) -> Outcome {
    let tty = std::io::stdout().is_terminal();
    let mut seen: i64 = 0;
    let mut drawn = 0usize;
    let mut last_print: Millis = clock.start;
    let mut rate = Rate::default();
    loop {
        std::thread::sleep(Duration::from_millis(if tty { 200 } else { 250 }));
        let now = rampart_server::now_ms();
        if interrupted.load(Ordering::Acquire) {
            clear(tty, &mut drawn);
            return Outcome::Failed("interrupted".into());
        }
        let (Ok(rollouts), Ok(bakeoff), Ok(decisions)) = (
            fetch(base, "/v1/rollouts"),
            fetch(base, &format!("/v1/experiments/{}", traffic::BAKEOFF)),
            fetch(base, "/v1/decisions?limit=200"),
        ) else {
            continue;
        };
        let rollouts = rollouts["rollouts"].as_array().cloned().unwrap_or_default();
        let fresh: Vec<&Value> = decisions["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["id"].as_i64().unwrap_or(0) > seen)
            .collect();
        if !fresh.is_empty() {
            clear(tty, &mut drawn);
            for d in fresh {
                seen = seen.max(d["id"].as_i64().unwrap_or(0));
                outln!("{}", decision_line(clock, d));
            }
        }
        let visits = stats.visits.load(Ordering::Relaxed);
        let per_sec = rate.update(visits);
        let lines = status_lines(clock, now, visits, per_sec, &rollouts, &bakeoff, stats);
        if tty {
            clear(tty, &mut drawn);
            for l in &lines {
                outln!("{l}");
            }
            drawn = lines.len();
        } else if now - last_print >= 2 * HOUR {
            last_print = now;
            for l in &lines {
                outln!("{l}");
            }
        }
        let _ = std::io::stdout().flush();
        match assess_story(&rollouts, &bakeoff, now) {
            Progress::Going if now - clock.start >= MAX_DEMO_HOURS * HOUR => {
                clear(tty, &mut drawn);
                return Outcome::Failed(format!("not finished after {MAX_DEMO_HOURS} demo hours"));
            }
            Progress::Going => {}
            Progress::Done => {
                clear(tty, &mut drawn);
                return Outcome::Told;
            }
            Progress::Failed(why) => {
                clear(tty, &mut drawn);
                return Outcome::Failed(why);
            }
        }
    }
}

/// Erases the status lines drawn last (a terminal only).
fn clear(tty: bool, drawn: &mut usize) {
    if tty && *drawn > 0 {
        out!("\x1b[{}A\x1b[J", *drawn);
        *drawn = 0;
    }
}

/// Visits per real second, over the last few seconds.
#[derive(Default)]
struct Rate {
    marks: std::collections::VecDeque<(Instant, u64)>,
}

impl Rate {
    fn update(&mut self, visits: u64) -> f64 {
        let now = Instant::now();
        self.marks.push_back((now, visits));
        while self.marks.len() > 2 && now - self.marks[0].0 > Duration::from_secs(3) {
            self.marks.pop_front();
        }
        let (t0, v0) = self.marks[0];
        let secs = (now - t0).as_secs_f64();
        if secs > 0.0 {
            (visits - v0) as f64 / secs
        } else {
            0.0
        }
    }
}

fn decision_line(clock: &DemoClock, d: &Value) -> String {
    let ts = d["ts"].as_i64().unwrap_or(0);
    format!(
        "{}  ({})  {:<14} {:<14} {}",
        clock.demo_time(ts),
        clock.real_offset(ts),
        d["entity"].as_str().unwrap_or("?"),
        d["action"].as_str().unwrap_or("?"),
        d["reason"].as_str().unwrap_or("")
    )
}

/// `12,345`.
fn thousands(n: u64) -> String {
    crate::table::thousands(n as f64)
}

/// `error_rate ✓ latency · ctr ✗`: each gate's outcome at the last look.
fn gate_marks(rollout: &Value) -> String {
    rollout["last_look"]["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["segment"].is_null())
        .map(|v| {
            let mark = match v["outcome"].as_str() {
                Some("pass") => "✓",
                Some("fail") => "✗",
                _ => "·",
            };
            format!("{} {mark}", v["metric"].as_str().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join("  ")
}

fn rollout_line(r: &Value) -> String {
    let name = r["name"].as_str().unwrap_or("?");
    let status = r["status"].as_str().unwrap_or("?");
    let arrow = format!(
        "{}→{}",
        r["baseline"].as_str().unwrap_or("?"),
        r["candidate"].as_str().unwrap_or("?")
    );
    let stages = r["stages"].as_array().map_or(0, Vec::len);
    let where_ = match status {
        "running" | "awaiting-approval" | "paused" => format!(
            "stage {}/{stages} {:>3}%",
            r["stage"].as_u64().unwrap_or(0) + 1,
            r["traffic"].as_f64().unwrap_or(0.0)
        ),
        _ => String::new(),
    };
    let look = &r["last_look"];
    let units = if status == "rolled-back" {
        // The gate that decided: the reason up to its first colon.
        let reason = r["reason"].as_str().unwrap_or("");
        format!("by {}", reason.split(':').next().unwrap_or(reason))
    } else if look.is_null() || !matches!(status, "running" | "awaiting-approval") {
        String::new()
    } else {
        format!(
            "{} vs {} units  {}",
            thousands(look["candidate_units"].as_u64().unwrap_or(0)),
            thousands(look["control_units"].as_u64().unwrap_or(0)),
            gate_marks(r)
        )
    };
    format!("  {name:<15}{arrow:<13}{status:<12}{where_:<16}{units}")
        .trim_end()
        .to_string()
}

fn bakeoff_line(e: &Value) -> String {
    let status = e["status"].as_str().unwrap_or("?");
    let il = &e["report"]["interleaving"];
    let mut text = format!(
        "  {:<15}{:<13}{status:<12}{:>6} users, {:>6} lists",
        traffic::BAKEOFF,
        "3 rankers",
        thousands(il["units"].as_u64().unwrap_or(0)),
        thousands(il["impressions"].as_u64().unwrap_or(0))
    );
    if let Some(w) = e["winner"].as_str() {
        text.push_str(&format!("  winner {w}"));
    } else {
        let pairs: Vec<String> = il["pairs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let delta = p["delta"].as_f64()?;
                let (a, b) = (p["first"].as_str()?, p["second"].as_str()?);
                let (win, lose, d) = if delta >= 0.0 {
                    (a, b, delta)
                } else {
                    (b, a, -delta)
                };
                Some(format!("{win}>{lose} {:+.2}", d))
            })
            .collect();
        if !pairs.is_empty() {
            text.push_str(&format!("  {}", pairs.join("  ")));
        }
    }
    text
}

fn status_lines(
    clock: &DemoClock,
    now: Millis,
    visits: u64,
    per_sec: f64,
    rollouts: &[Value],
    bakeoff: &Value,
    stats: &traffic::Stats,
) -> Vec<String> {
    let real = clock.real_start.elapsed().as_secs();
    let mut header = format!(
        "{}  ({} real)  {} visits, {}/s",
        clock.demo_time(now),
        format_args!("{}:{:02}", real / 60, real % 60),
        thousands(visits),
        thousands(per_sec as u64),
    );
    let failures = stats.failures.load(Ordering::Relaxed);
    if failures > 0 {
        header.push_str(&format!("  ({failures} failed calls to rampart)"));
    }
    let mut lines = vec![header];
    for name in ["fraud-v2", "recs-v2"] {
        if let Some(r) = rollouts.iter().find(|r| r["name"] == name) {
            lines.push(rollout_line(r));
        }
    }
    lines.push(bakeoff_line(bakeoff));
    if let Some(r) = rollouts.iter().find(|r| r["name"] == "search-ship") {
        lines.push(rollout_line(r));
    }
    lines
}

fn print_summary(
    clock: &DemoClock,
    decisions: &[Value],
    outcome: &Outcome,
    stats: &traffic::Stats,
    proxied: &Value,
) {
    outln!();
    match outcome {
        Outcome::Told => outln!("The story is complete. Every decision, from the decision log:"),
        Outcome::Failed(why) => {
            outln!(
                "The story did not complete ({why}). The decisions so far, from the decision log:"
            )
        }
    }
    outln!();
    for d in decisions {
        outln!(
            "  {}  ({} real)  {} {}: {} → {}",
            clock.demo_time(d["ts"].as_i64().unwrap_or(0)),
            clock.real_offset(d["ts"].as_i64().unwrap_or(0)),
            d["entity"].as_str().unwrap_or("?"),
            d["action"].as_str().unwrap_or("?"),
            d["from_state"].as_str().unwrap_or("?"),
            d["to_state"].as_str().unwrap_or("?"),
        );
        outln!("      why: {}", d["reason"].as_str().unwrap_or(""));
        if let Some(numbers) = key_numbers(d) {
            outln!("      numbers: {numbers}");
        }
    }
    outln!();
    outln!(
        "Traffic: {} visits, {} payments, {} searches, {} outcome events.",
        thousands(stats.visits.load(Ordering::Relaxed)),
        thousands(stats.payments.load(Ordering::Relaxed)),
        thousands(stats.searches.load(Ordering::Relaxed)),
        thousands(stats.events.load(Ordering::Relaxed)),
    );
    if let Some(line) = proxy_line(proxied) {
        outln!("{line}");
    }
    let failures = stats.failures.load(Ordering::Relaxed);
    if failures > 0 {
        let last = stats
            .last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        outln!("{failures} calls to rampart failed; the last: {last}");
    }
}

/// What rampart's model proxy measured of the fraud scorer's calls (`GET /v1/proxy/{model}`): the
/// evidence of its latency and error gates, which no client reported.
fn proxy_line(summary: &Value) -> Option<String> {
    let variants = summary["variants"].as_array()?;
    let parts: Vec<String> = variants
        .iter()
        .map(|v| {
            let c = &v["calls"];
            let p99 = c["latency_ms"]["p99"]
                .as_f64()
                .map_or("-".to_string(), |x| format!("{} ms", short(x)));
            format!(
                "{} {} calls, {} errors, p99 {p99}",
                v["name"].as_str().unwrap_or("?"),
                thousands(c["responses"].as_u64().unwrap_or(0)),
                thousands(c["errors"].as_u64().unwrap_or(0)),
            )
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Fraud scoring through rampart's model proxy (its own response and error events): {}.",
            parts.join("; ")
        )
    })
}

/// Each gate's estimate against its threshold, from a controller's decision.
fn key_numbers(d: &Value) -> Option<String> {
    let verdicts = d["evidence"]["verdicts"].as_array()?;
    let parts: Vec<String> = verdicts
        .iter()
        .filter(|v| v["segment"].is_null())
        .filter_map(|v| {
            let n = &v["numbers"];
            let est = n["estimate"].as_f64()?;
            let thr = n["threshold"].as_f64()?;
            Some(format!(
                "{} {} {} (limit {}, {})",
                v["metric"].as_str()?,
                n["measure"].as_str().unwrap_or("value").replace('_', " "),
                short(est),
                short(thr),
                v["outcome"].as_str().unwrap_or("?")
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn short(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_demo_starts_at_eight_two_days_back() {
        let wall = rampart_server::parse_rfc3339("2026-11-26T22:26:22Z").unwrap();
        let start = demo_start(wall);
        assert_eq!(
            start,
            rampart_server::parse_rfc3339("2026-11-24T08:00:00Z").unwrap()
        );
        // Forty demo hours later it is still before the wall clock, at any time of day.
        let midnight = rampart_server::parse_rfc3339("2026-11-26T00:00:01Z").unwrap();
        assert!(demo_start(midnight) + MAX_DEMO_HOURS * HOUR <= midnight);
        let clock = DemoClock {
            start,
            speed: 600.0,
            real_start: Instant::now(),
        };
        assert_eq!(clock.demo_time(start), "day 1 08:00");
        assert_eq!(
            clock.demo_time(start + 17 * HOUR + 5 * 60_000),
            "day 2 01:05"
        );
        assert_eq!(clock.real_offset(start + HOUR), "+0:06");
    }

    #[test]
    fn a_previous_demos_directory_is_replaced_and_any_other_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        assert!(prepare_data_dir(Some(&dir)).unwrap().1, "a new directory");
        for f in [
            MARKER,
            "demo.toml",
            "demo.log",
            "rampart.db",
            "rampart.db-wal",
            "rampart.lock",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let (again, fresh) = prepare_data_dir(Some(&dir)).unwrap();
        assert!(!fresh);
        assert_eq!(
            std::fs::read_dir(&again).unwrap().count(),
            0,
            "every demo file removed"
        );
        std::fs::write(dir.join(MARKER), "x").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let err = prepare_data_dir(Some(&dir)).unwrap_err();
        assert!(
            err.contains("\"notes.txt\", which a demo does not write"),
            "{err}"
        );
        assert!(dir.join("notes.txt").exists() && dir.join(MARKER).exists());
    }

    #[test]
    fn the_summary_shows_what_the_proxy_measured_per_variant() {
        let summary = json!({"model": "fraud-scorer", "variants": [
            {"name": "v1", "calls": {"responses": 12345, "errors": 20,
                "latency_ms": {"p50": 1.2, "p90": 2.0, "p99": 3.456, "max": 9.0}}},
            {"name": "v2", "calls": {"responses": 0, "errors": 0,
                "latency_ms": {"p50": null, "p90": null, "p99": null, "max": null}}},
        ]});
        let line = proxy_line(&summary).unwrap();
        assert!(
            line.ends_with("v1 12,345 calls, 20 errors, p99 3.46 ms; v2 0 calls, 0 errors, p99 -."),
            "{line}"
        );
        assert_eq!(proxy_line(&Value::Null), None, "no summary, no line");
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    fn rollout(name: &str, status: &str, started_at: Option<Millis>) -> Value {
        json!({"name": name, "status": status, "started_at": started_at})
    }

    #[test]
    fn the_story_is_told_when_every_part_happened() {
        let now = 20 * HOUR;
        let done = [
            rollout("fraud-v2", "rolled-back", Some(0)),
            rollout("recs-v2", "completed", Some(0)),
            rollout("search-ship", "running", Some(now - SHIP_WATCH)),
        ];
        let winner = json!({"status": "stopped", "winner": "neural"});
        assert_eq!(assess_story(&done, &winner, now), Progress::Done);
        // The shipped ranker has only just started.
        let mut young = done.clone();
        young[2] = rollout("search-ship", "running", Some(now - 1));
        assert_eq!(assess_story(&young, &winner, now), Progress::Going);
        let running = json!({"status": "running", "winner": null});
        let mut pending = done.clone();
        pending[2] = rollout("search-ship", "pending", None);
        assert_eq!(assess_story(&pending, &running, now), Progress::Going);
    }

    #[test]
    fn the_story_fails_when_the_statistics_get_it_wrong() {
        let now = HOUR;
        let going = [
            rollout("fraud-v2", "completed", Some(0)),
            rollout("recs-v2", "running", Some(0)),
            rollout("search-ship", "pending", None),
        ];
        let running = json!({"status": "running"});
        assert!(
            matches!(assess_story(&going, &running, now), Progress::Failed(w) if w.contains("fraud-v2"))
        );
        let recs_back = [
            rollout("fraud-v2", "running", Some(0)),
            rollout("recs-v2", "rolled-back", Some(0)),
        ];
        assert!(
            matches!(assess_story(&recs_back, &running, now), Progress::Failed(w) if w.contains("recs-v2"))
        );
        let ok = [rollout("fraud-v2", "running", Some(0))];
        let wrong = json!({"status": "stopped", "winner": "popular"});
        assert!(
            matches!(assess_story(&ok, &wrong, now), Progress::Failed(w) if w.contains("popular"))
        );
        let none =
            json!({"status": "stopped", "winner": null, "reason": "max duration 12h reached"});
        assert!(matches!(assess_story(&ok, &none, now), Progress::Failed(w) if w.contains("12h")));
    }

    #[test]
    fn the_config_gets_the_real_endpoints_address_and_directory() {
        let mut endpoints = toy::Endpoints::new();
        for (i, t) in toy::TOYS.iter().enumerate() {
            endpoints.insert(
                (t.model.to_string(), t.variant.to_string()),
                format!("http://127.0.0.1:{}", 40_000 + i),
            );
        }
        let text = demo_config(&endpoints, "127.0.0.1:18080", Path::new("/tmp/demo \"x\""));
        assert!(!text.contains(":930"), "every placeholder replaced");
        assert!(text.contains(r#"{ name = "v2", endpoint = "http://127.0.0.1:40001" }"#));
        assert!(text.contains("listen = \"127.0.0.1:18080\""));
        assert!(text.contains(r#"data_dir = "/tmp/demo \"x\"""#));
        let config =
            rampart_core::config::load_str(&text, rampart_core::config::Format::Toml, "demo.toml")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.models.len(), 3);
    }
}
