//! What the HTTP benches share: the config they serve (the quickstart example), starting rampart
//! in process on a temporary data directory, CPU time of this process and of its threads,
//! medians, and wrk as the load generator (`wrk`).

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::time::Duration;

use rampart_server::{Options, Running};

// Used by the benches that drive wrk, not by the others.
#[allow(dead_code)]
pub mod wrk;

/// The config every bench serves: two models, a holdout, a rollout, two experiments.
pub const CONFIG: &str = include_str!("../../../../examples/quickstart.toml");

/// Starts rampart on a free loopback port with its config and data under `dir`.
pub fn start_rampart(rt: &tokio::runtime::Runtime, dir: &Path) -> Result<Running, Box<dyn Error>> {
    let config_path = dir.join("rampart.toml");
    std::fs::write(&config_path, CONFIG)?;
    let running = rt.block_on(rampart_server::start(Options {
        config_path,
        data_dir: Some(dir.join("data")),
        listen: Some("127.0.0.1:0".into()),
        store_url: None,
    }))?;
    Ok(running)
}

/// CPU time used by this process so far (user + system), from `/proc/self/stat`; zero where that
/// file does not exist. On a shared machine it is steadier than wall time.
pub fn cpu_time() -> Duration {
    std::fs::read_to_string("/proc/self/stat")
        .map(|stat| stat_cpu(&stat))
        .unwrap_or(Duration::ZERO)
}

/// Time a thread spent running on a core and waiting in the run queue for one (the second grows
/// when other processes keep the cores busy), from `/proc/.../schedstat`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ThreadTime {
    pub on_cpu_s: f64,
    pub runnable_s: f64,
}

impl std::ops::Sub for ThreadTime {
    type Output = ThreadTime;
    fn sub(self, before: ThreadTime) -> ThreadTime {
        ThreadTime {
            on_cpu_s: self.on_cpu_s - before.on_cpu_s,
            runnable_s: self.runnable_s - before.runnable_s,
        }
    }
}

/// Times of the live threads of this process so far, summed per thread name (tokio's workers
/// share one name); empty where `/proc` does not exist.
pub fn thread_times() -> BTreeMap<String, ThreadTime> {
    let mut out: BTreeMap<String, ThreadTime> = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        // A thread that ended since the listing has no files any more: it is simply not counted.
        let (Ok(name), Ok(sched)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        let mut ns = sched
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0) as f64 / 1e9);
        let t = out.entry(name.trim_end().to_string()).or_default();
        t.on_cpu_s += ns.next().unwrap_or(0.0);
        t.runnable_s += ns.next().unwrap_or(0.0);
    }
    out
}

/// The CPU time (user + system) of a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Duration {
    // The name before the fields sits in parentheses and may hold spaces: skip to the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // utime and stime are the 14th and 15th fields of the line, in clock ticks (100 per second
    // on Linux): the 12th and 13th after the name.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The median of `values` (the upper one of the middle two for an even count); NaN-free input
/// is the caller's promise, `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}
