//! Start-up and shut-down in three steps: load (parse and validate the config), build (bind the
//! port and answer the probes at once, then open the store and rebuild live state and evidence
//! from it), spawn (serve the API until asked to stop, then drain the writer so nothing queued is
//! lost). Until build is done `/healthz` answers 200 and every other route 503 `not_ready`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rampart_core::config::{check_str, ConfigErrors, Format};
use rampart_core::evidence::Aggregator;
use rampart_core::proxy::ProxySummary;
use rampart_core::Record;
use rampart_store::{Store, StoreLocation};
use tokio::sync::oneshot;

use crate::app::{router, Shared};
use crate::auth::{is_loopback, load_tokens};
use crate::clock::now_ms;
use crate::edge::{spawn_accept_loop, Switch, Timeouts};
use crate::live::apply_config;
use crate::telemetry::Telemetry;
use crate::writer::Writer;

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub config_path: PathBuf,
    /// Overrides `server.data_dir`; `./rampart-data` when neither is set.
    pub data_dir: Option<PathBuf>,
    /// Overrides `server.listen` (e.g. `127.0.0.1:0` in tests).
    pub listen: Option<String>,
    /// Overrides `server.header_timeout`.
    pub header_timeout: Option<rampart_core::config::Duration>,
    /// Overrides `server.body_timeout`.
    pub body_timeout: Option<rampart_core::config::Duration>,
    /// Overrides `server.request_timeout`.
    pub request_timeout: Option<rampart_core::config::Duration>,
    /// Overrides `[store]`: a PostgreSQL URL (`--store-url`, `RAMPART_STORE_URL`).
    pub store_url: Option<String>,
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error(transparent)]
    Store(#[from] rampart_store::StoreError),
    #[error("cannot apply the config: {0}")]
    Apply(String),
    #[error("invalid [auth] tokens: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Auth(Vec<rampart_core::config::TokenError>),
    /// Auth is off and the address is reachable from other machines.
    #[error("refusing to listen on {addr} without access control: add bearer tokens in the [auth] section of the config (tokens, token_file or token_env), or listen on a loopback address such as 127.0.0.1:8080")]
    Unprotected { addr: String },
    /// A webhook's URL cannot be read or is not a URL.
    #[error("invalid [[webhooks]]: {}", .0.join("; "))]
    Webhooks(Vec<String>),
    /// The `[prometheus]` bearer token cannot be read.
    #[error("invalid [prometheus] section: {0}")]
    Prometheus(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// A server that is serving; dropping it does not stop it, `shutdown` does.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    writer_thread: std::thread::JoinHandle<()>,
    stop_signals: StopSignals,
}

impl Running {
    /// Stops accepting requests, finishes those in flight, stores everything queued.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.served.await;
        self.shared.writer.flush().await;
        drop(self.shared);
        let _ = tokio::task::spawn_blocking(move || self.writer_thread.join()).await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down.
    pub async fn until_signal(mut self) {
        self.stop_signals.wait().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

/// Loads, builds and spawns a server.
pub async fn start(opts: Options) -> Result<Running, ServeError> {
    let loaded = load(&opts)?;
    let built = build(loaded).await?;
    Ok(spawn(built))
}

/// A config read and checked, and everything derived from it before anything is opened.
struct Loaded {
    config: rampart_core::Config,
    text: String,
    config_path: PathBuf,
    location: StoreLocation,
    listen: String,
    tokens: crate::auth::Tokens,
    hooks: Vec<crate::notify::Hook>,
}

/// Step 1: reads and validates the config and the secrets it names; opens nothing.
fn load(opts: &Options) -> Result<Loaded, ServeError> {
    let file = opts.config_path.display().to_string();
    let text = std::fs::read_to_string(&opts.config_path).map_err(|e| {
        ServeError::Config(ConfigErrors(vec![rampart_core::config::ConfigError {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        }]))
    })?;
    let loaded = check_str(&text, Format::from_path(&opts.config_path), &file)
        .map_err(ServeError::Config)?;
    // Valid but almost certainly not meant (e.g. a gate that can only pass on an improvement).
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "config warning");
    }
    let mut config = loaded.config;
    let overrides = [
        (&mut config.server.header_timeout, opts.header_timeout),
        (&mut config.server.body_timeout, opts.body_timeout),
        (&mut config.server.request_timeout, opts.request_timeout),
    ];
    let mut overridden = false;
    for (key, value) in overrides {
        if let Some(v) = value {
            *key = v;
            overridden = true;
        }
    }
    if overridden {
        config
            .validate(&format!("{file} with the serve flags"))
            .map_err(ServeError::Config)?;
    }
    let data_dir = opts
        .data_dir
        .clone()
        .or_else(|| config.server.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./rampart-data"));
    let location =
        StoreLocation::choose(opts.store_url.as_deref(), &config.store, data_dir, |v| {
            std::env::var(v).ok()
        })?;
    let listen = opts
        .listen
        .clone()
        .unwrap_or_else(|| config.server.listen.clone());
    let tokens = load_tokens(&config.auth, opts.config_path.parent(), |v| {
        std::env::var(v).ok()
    })
    .map_err(ServeError::Auth)?;
    if let Some(p) = &config.prometheus {
        crate::prometheus::Prometheus::new(p, opts.config_path.parent(), |v| std::env::var(v).ok())
            .map_err(ServeError::Prometheus)?;
    }
    let hooks = crate::notify::resolve_webhooks(&config.webhooks, opts.config_path.parent(), |v| {
        std::env::var(v).ok()
    })
    .map_err(ServeError::Webhooks)?;
    // Checked before the store is opened: a refused start leaves nothing behind.
    if !tokens.is_on() && !is_loopback(&listen) {
        return Err(ServeError::Unprotected { addr: listen });
    }
    Ok(Loaded {
        config,
        text,
        config_path: opts.config_path.clone(),
        location,
        listen,
        tokens,
        hooks,
    })
}

/// A server whose API is installed behind its port, not yet announced.
struct Built {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
    writer_thread: std::thread::JoinHandle<()>,
    tokens_on: bool,
    token_count: usize,
    /// Where the store is, for the log (no credentials).
    store: String,
    tick: std::time::Duration,
}

/// Step 2: binds the port and answers the probes, then opens the store, rebuilds live state and
/// evidence from it and installs the API behind the port.
async fn build(loaded: Loaded) -> Result<Built, ServeError> {
    let Loaded {
        config,
        text,
        config_path,
        location,
        listen,
        tokens,
        hooks,
    } = loaded;
    let store_description = location.describe();
    let max_body = config.server.max_body_bytes;
    let timeouts = Timeouts::from_config(&config.server);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: listen.clone(),
        source,
    })?;
    let telemetry = Arc::new(Telemetry::default());
    let replayed = Arc::new(AtomicU64::new(0));
    let switch = Switch::starting(telemetry.clone(), timeouts, replayed.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = spawn_accept_loop(listener, switch.clone(), timeouts.header, stopped);
    tracing::info!(%addr, "listening; /healthz is up, the API answers once the store is loaded");

    tracing::info!(store = %store_description, "opening the store");
    let restored = restore(location, config, text, replayed).await;
    let (store, live, aggregator, summary) = match restored {
        Ok(r) => r,
        Err(e) => {
            let _ = stop.send(());
            let _ = served.await;
            return Err(e);
        }
    };
    let aggregator = Arc::new(Mutex::new(aggregator));
    telemetry.register_models(&live.config);
    let (writer, writer_thread) =
        Writer::spawn(store.clone(), aggregator.clone(), telemetry.clone());
    let notifier = crate::notify::Notifier::new(hooks, telemetry.clone());
    let tick = std::time::Duration::from_millis(live.config.server.tick.as_millis());
    let shared = Arc::new(Shared::new(
        live,
        writer,
        aggregator,
        store,
        telemetry,
        Some(config_path),
        notifier,
    ));
    shared.proxy.restore(summary);
    let tokens_on = tokens.is_on();
    let token_count = tokens.len();
    shared.tokens.store(Arc::new(tokens));
    switch.serve_app(router(shared.clone(), max_body));
    Ok(Built {
        addr,
        shared,
        stop,
        served,
        writer_thread,
        tokens_on,
        token_count,
        store: store_description,
        tick,
    })
}

type Restored = (Arc<dyn Store>, crate::live::Live, Aggregator, ProxySummary);

/// Opens the store and replays it: live state, evidence and the proxy's summary, counting the
/// records replayed into `replayed` as it goes (the start-up `not_ready` shows it).
async fn restore(
    location: StoreLocation,
    config: rampart_core::Config,
    text: String,
    replayed: Arc<AtomicU64>,
) -> Result<Restored, ServeError> {
    // Off the runtime: the PostgreSQL client blocks on a runtime of its own.
    tokio::task::spawn_blocking(move || -> Result<Restored, ServeError> {
        let store = rampart_store::open(&location)?;
        let live = apply_config(&*store, config, &text, now_ms()).map_err(ServeError::Apply)?;
        let mut aggregator = Aggregator::new(&live.config);
        // One pass rebuilds the evidence and the proxy's summary.
        let mut summary = ProxySummary::default();
        let mut count = 0u64;
        store
            .replay(0, &mut |_, rec| {
                aggregator.fold(&rec);
                if let Record::Event(e) = &rec {
                    summary.fold(e);
                }
                count += 1;
                if count & 0xFFFF == 0 {
                    replayed.store(count, Ordering::Relaxed);
                }
            })
            .map_err(|e| ServeError::Apply(e.to_string()))?;
        replayed.store(count, Ordering::Relaxed);
        tracing::info!(records = count, "evidence rebuilt from the store");
        Ok((store, live, aggregator, summary))
    })
    .await
    .map_err(|e| ServeError::Apply(e.to_string()))?
}

/// Step 3: starts the controller and the signal handlers, and declares the server ready.
fn spawn(built: Built) -> Running {
    let Built {
        addr,
        shared,
        stop,
        served,
        writer_thread,
        tokens_on,
        token_count,
        store,
        tick,
    } = built;
    spawn_reload_on_hangup(shared.clone());
    crate::controller::spawn(Arc::downgrade(&shared), tick);
    // Listening before anyone learns the server is up: a signal sent right after the announcement
    // would otherwise meet the default action and end the process without a drain.
    let stop_signals = StopSignals::register();
    shared.ready.store(true, Ordering::Release);
    if tokens_on {
        tracing::info!(
            tokens = token_count,
            "auth is on: every route but /healthz and /readyz needs a bearer token"
        );
    } else {
        tracing::warn!(%addr, "auth is off (no [auth] tokens): the API is open, so rampart listens on loopback only");
    }
    tracing::info!(%addr, %store, "rampart is serving");
    Running {
        addr,
        shared,
        stop,
        served,
        writer_thread,
        stop_signals,
    }
}

#[cfg(unix)]
fn spawn_reload_on_hangup(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let weak = Arc::downgrade(&shared);
    drop(shared);
    // Registered before returning, so a SIGHUP right after start-up reloads instead of killing.
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot listen for SIGHUP: reload through the API only");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(shared) = weak.upgrade() else { return };
            match shared.reload().await {
                Ok(v) => tracing::info!(version = v, "config reloaded on SIGHUP"),
                Err(e) => tracing::error!(error = %e.message, "config reload on SIGHUP refused"),
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_hangup(_shared: Arc<Shared>) {}

/// SIGINT and SIGTERM listeners, registered when the server starts.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn register() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Resolves on the first SIGINT or SIGTERM (never, for a signal that could not be listened to).
    async fn wait(&mut self) {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => {}
                _ = next(&mut self.int) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
