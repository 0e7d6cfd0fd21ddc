//! The `rampart` binary: wires the crates together behind subcommands. Errors become one clear
//! line on stderr and a non-zero exit code.

mod client;
mod demo;
mod experiments;
mod export;
mod plan;
mod rollouts;
mod simulate;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "Ship model versions safely: staged rollouts and interleaving experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the service on the embedded store.
    Serve {
        /// The config file (TOML, or YAML by extension).
        #[arg(long, short)]
        config: PathBuf,
        /// Where the embedded store lives (overrides server.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check a config file without starting anything: prints `ok` or every error.
    Validate { file: PathBuf },
    /// Inspect or steer a staged rollout on a running server.
    Rollout {
        #[command(subcommand)]
        verb: rollouts::RolloutVerb,
        #[command(flatten)]
        target: client::Target,
        /// Why: recorded in the decision log.
        #[arg(long, global = true)]
        reason: Option<String>,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Inspect, start or stop a split experiment on a running server.
    Experiment {
        #[command(subcommand)]
        verb: experiments::ExperimentVerb,
        #[command(flatten)]
        target: client::Target,
        /// Why: recorded in the decision log.
        #[arg(long, global = true)]
        reason: Option<String>,
        #[arg(long, global = true)]
        json: bool,
    },
    /// The report of an experiment (or a rollout's last gate verdicts).
    Report {
        name: String,
        #[command(flatten)]
        target: client::Target,
        /// Print the report's JSON.
        #[arg(long)]
        json: bool,
        /// `table` for a terminal, `markdown` for an experiment record to file.
        #[arg(long, value_enum, default_value_t)]
        format: experiments::ReportFormat,
    },
    /// Print the decision log, of every entity or of one.
    Log {
        entity: Option<String>,
        #[command(flatten)]
        target: client::Target,
        /// At most this many of the newest decisions.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Kill switch: roll back every active rollout at once.
    Kill {
        #[command(flatten)]
        target: client::Target,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Choose between interleaving and a staged rollout, and size both: checklist, sample sizes,
    /// durations and a config block to paste.
    Plan(Box<plan::PlanArgs>),
    /// Rehearse a release: play rampart's staged rollout, fixed-threshold gates, A/B tests and
    /// interleaving on a simulated scenario over many seeds, and compare them.
    Simulate(Box<simulate::SimulateArgs>),
    /// Write exposures, outcome events, impressions and the decision log to CSV or Parquet
    /// files, by time range. Reads the data directory directly; the server may keep running.
    Export(Box<export::ExportArgs>),
    /// The whole system in one process: toy models, simulated users on a fast clock, and three
    /// stories told live (a bad candidate rolled back, a good one promoted, a bake-off's winner
    /// shipped).
    Demo(Box<demo::DemoArgs>),
    /// Show models, rollouts and experiments of a running server.
    Status {
        #[command(flatten)]
        target: client::Target,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
        } => serve(config, data_dir, listen),
        Command::Validate { file } => return validate(&file),
        Command::Status { target, json } => status(&target, json),
        Command::Plan(args) => plan::plan(&args),
        Command::Export(args) => export::export(&args),
        Command::Simulate(args) => simulate::simulate(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Rollout {
            verb,
            target,
            reason,
            json,
        } => rollouts::rollout(&target, &verb, reason.as_deref(), json),
        Command::Experiment {
            verb,
            target,
            reason,
            json,
        } => experiments::experiment(&target, &verb, reason.as_deref(), json),
        Command::Report {
            name,
            target,
            json,
            format,
        } => experiments::report(&target, &name, format, json),
        Command::Log {
            entity,
            target,
            limit,
            json,
        } => rollouts::log(&target, entity.as_deref(), limit, json),
        Command::Kill {
            target,
            reason,
            json,
        } => rollouts::kill(&target, reason.as_deref(), json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rampart: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: PathBuf, data_dir: Option<PathBuf>, listen: Option<String>) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let running = rampart_server::start(rampart_server::Options {
            config_path: config,
            data_dir,
            listen,
        })
        .await
        .map_err(|e| e.to_string())?;
        println!("rampart is serving on http://{}", running.addr);
        running.until_signal().await;
        Ok(())
    })
}

fn validate(file: &std::path::Path) -> ExitCode {
    match rampart_core::config::check_file(file) {
        Ok(loaded) => {
            // Warnings do not fail validation: the config is valid, just probably not meant.
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            if loaded.warnings.is_empty() {
                println!("ok");
            } else {
                println!("ok, with {} warning(s)", loaded.warnings.len());
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            eprintln!("rampart: {} error(s) in {}", errors.0.len(), file.display());
            ExitCode::FAILURE
        }
    }
}

fn status(target: &client::Target, json: bool) -> Result<(), String> {
    let body = target.get("/v1/status")?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    let rows = |key: &str| body[key].as_array().cloned().unwrap_or_default();
    let text = table::cell;
    println!("config version {}", text(&body["config_version"]));
    println!("\nMODELS");
    table::print(
        &["NAME", "UNIT", "BASELINE", "VARIANTS"],
        rows("models").iter().map(|m| {
            let variants: Vec<String> = m["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            vec![
                text(&m["name"]),
                text(&m["unit"]),
                text(&m["baseline"]),
                variants.join(", "),
            ]
        }),
    );
    println!("\nROLLOUTS");
    table::print(
        &[
            "NAME",
            "MODEL",
            "STATUS",
            "STAGE",
            "TRAFFIC %",
            "BASELINE → CANDIDATE",
        ],
        rows("rollouts").iter().map(|r| {
            let stage = match (r["stage"].as_u64(), r["stages"].as_u64()) {
                (Some(s), Some(n)) => format!("{}/{}", s + 1, n),
                _ => "-".into(),
            };
            vec![
                text(&r["name"]),
                text(&r["model"]),
                text(&r["status"]),
                stage,
                text(&r["traffic"]),
                format!("{} → {}", text(&r["baseline"]), text(&r["candidate"])),
            ]
        }),
    );
    println!("\nEXPERIMENTS");
    table::print(
        &["NAME", "MODEL", "STATUS", "DESIGN", "TRAFFIC %", "LAYER"],
        rows("experiments").iter().map(|e| {
            vec![
                text(&e["name"]),
                text(&e["model"]),
                text(&e["status"]),
                text(&e["design"]),
                text(&e["traffic"]),
                text(&e["layer"]),
            ]
        }),
    );
    Ok(())
}
