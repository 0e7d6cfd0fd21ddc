//! The `rampart` binary: wires the crates together behind subcommands. Errors become one clear
//! line on stderr and the exit code of their kind (the table in `exit`); usage errors exit with
//! the bad-usage code, and a closed stdout ends a command quietly.

mod client;
mod demo;
mod exit;
mod experiments;
mod export;
mod plan;
mod rollouts;
mod simulate;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::{outln, Exit, Failure};

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "Ship model versions safely: staged rollouts and interleaving experiments",
    after_help = exit::table()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The shape of `serve`'s log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Start the service: on the embedded store in the data directory, or on PostgreSQL when
    /// `[store]` or --store-url names a database.
    Serve {
        /// The config file (TOML, or YAML by extension).
        #[arg(long, short, env = "RAMPART_CONFIG")]
        config: PathBuf,
        /// Where the embedded store lives (overrides server.data_dir).
        #[arg(long, env = "RAMPART_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Address to listen on (overrides server.listen).
        #[arg(long, env = "RAMPART_LISTEN")]
        listen: Option<String>,
        /// How long a client may take to send request headers, e.g. 10s (overrides
        /// server.header_timeout).
        #[arg(long, value_name = "DURATION", env = "RAMPART_HEADER_TIMEOUT")]
        header_timeout: Option<rampart_core::config::Duration>,
        /// Longest pause while reading a request body, e.g. 30s (overrides server.body_timeout).
        #[arg(long, value_name = "DURATION", env = "RAMPART_BODY_TIMEOUT")]
        body_timeout: Option<rampart_core::config::Duration>,
        /// Longest time from request headers to response headers, e.g. 60s (overrides
        /// server.request_timeout).
        #[arg(long, value_name = "DURATION")]
        request_timeout: Option<rampart_core::config::Duration>,
        /// How log lines are written to stderr: `text` for people, `json` (one object per line)
        /// for log collectors.
        #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "RAMPART_LOG_FORMAT")]
        log_format: LogFormat,
        /// PostgreSQL URL of the shared store (overrides [store]).
        #[arg(long, env = "RAMPART_STORE_URL", hide_env_values = true)]
        store_url: Option<String>,
    },
    /// Check a config file without starting anything: prints `ok` or every error.
    Validate {
        file: PathBuf,
        /// Print one JSON object: `ok`, and every error and warning with its file, line and
        /// field path.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `rampart completions bash > /etc/bash_completion.d/rampart`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Inspect or steer a staged rollout on a running server.
    Rollout {
        #[command(subcommand)]
        verb: rollouts::RolloutVerb,
        #[command(flatten)]
        target: client::Target,
        /// Why: recorded in the decision log.
        #[arg(long, global = true)]
        reason: Option<String>,
        /// Print the rollout as JSON (with `status --watch`: one object per line, per change).
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
        /// Print the experiment as JSON.
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` arrive here too, on stdout: they are not errors.
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return exit.into();
        }
    };
    let done = |r: Result<(), String>| r.map(|()| Exit::Ok).map_err(Failure::from);
    let result: Result<Exit, Failure> = match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
            header_timeout,
            body_timeout,
            request_timeout,
            log_format,
            store_url,
        } => done(serve(
            rampart_server::Options {
                config_path: config,
                data_dir,
                listen,
                header_timeout,
                body_timeout,
                request_timeout,
                store_url,
            },
            log_format,
        )),
        Command::Validate { file, json } => validate(&file, json),
        Command::Completions { shell } => Ok(completions(shell)),
        Command::Status { target, json } => status(&target, json).map(|()| Exit::Ok),
        Command::Plan(args) => done(plan::plan(&args)),
        Command::Export(args) => done(export::export(&args)),
        Command::Simulate(args) => done(simulate::simulate(&args)),
        Command::Demo(args) => done(demo::demo(&args)),
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
        } => experiments::experiment(&target, &verb, reason.as_deref(), json).map(|()| Exit::Ok),
        Command::Report {
            name,
            target,
            json,
            format,
        } => experiments::report(&target, &name, format, json).map(|()| Exit::Ok),
        Command::Log {
            entity,
            target,
            limit,
            json,
        } => rollouts::log(&target, entity.as_deref(), limit, json).map(|()| Exit::Ok),
        Command::Kill {
            target,
            reason,
            json,
        } => rollouts::kill(&target, reason.as_deref(), json).map(|()| Exit::Ok),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(failure) => {
            eprintln!("rampart: {failure}");
            failure.exit.into()
        }
    }
}

/// Writes the completion script of `shell` (written whole first, so a closed pipe is handled as
/// for any output).
fn completions(shell: clap_complete::Shell) -> Exit {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "rampart", &mut script);
    exit::write_stdout_bytes(&script);
    Exit::Ok
}

fn serve(opts: rampart_server::Options, log_format: LogFormat) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Text => logs.init(),
        // The request's span (with its request id) rides on every line written while serving it.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let running = rampart_server::start(opts)
            .await
            .map_err(|e| e.to_string())?;
        // The announcement is for whoever started the server; if nobody reads stdout any more,
        // the server goes on serving (the log on stderr says the same).
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "rampart is serving on http://{}", running.addr);
            let _ = out.flush();
        }
        running.until_signal().await;
        Ok(())
    })
}

fn validate(file: &std::path::Path, json: bool) -> Result<Exit, Failure> {
    // Warnings do not fail validation: the config is valid, just probably not meant.
    let (errors, warnings) = match rampart_core::config::check_file(file) {
        Ok(loaded) => (Vec::new(), loaded.warnings),
        Err(errors) => (errors.0, Vec::new()),
    };
    if json {
        let item = |e: &rampart_core::config::ConfigError| {
            serde_json::json!({
                "file": e.file,
                "line": e.line,
                "field": e.field,
                "message": e.message,
            })
        };
        let report = serde_json::json!({
            "file": file.display().to_string(),
            "ok": errors.is_empty(),
            "errors": errors.iter().map(item).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(item).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for w in &warnings {
            outln!("warning: {w}");
        }
        if errors.is_empty() {
            if warnings.is_empty() {
                outln!("ok");
            } else {
                outln!("ok, with {} warning(s)", warnings.len());
            }
        }
        for e in &errors {
            outln!("{e}");
        }
    }
    if errors.is_empty() {
        return Ok(Exit::Ok);
    }
    Err(Failure::from(format!(
        "{} error(s) in {}",
        errors.len(),
        file.display()
    )))
}

fn status(target: &client::Target, json: bool) -> Result<(), Failure> {
    let body = target.get("/v1/status")?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        return Ok(());
    }
    let rows = |key: &str| body[key].as_array().cloned().unwrap_or_default();
    let text = table::cell;
    outln!("config version {}", text(&body["config_version"]));
    outln!("\nMODELS");
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
    outln!("\nROLLOUTS");
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
    outln!("\nEXPERIMENTS");
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
