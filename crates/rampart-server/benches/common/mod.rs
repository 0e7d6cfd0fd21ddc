//! What the HTTP benches share: the config they serve (the quickstart example), starting rampart
//! in process on a temporary data directory, CPU time of this process, and medians.

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use rampart_server::{Options, Running};

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
    }))?;
    Ok(running)
}

/// CPU time used by this process so far (user + system), from `/proc/self/stat`; zero where that
/// file does not exist. On a shared machine it is steadier than wall time.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // utime and stime are the 14th and 15th fields, in clock ticks (100 per second on Linux);
    // the command name before them may hold spaces, so count from its closing ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
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
