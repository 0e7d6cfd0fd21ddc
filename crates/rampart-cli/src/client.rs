//! Talking to a running server: where it is (`--server`, `RAMPART_SERVER`, or the listen address
//! of `--config`), the bearer token to send (`--token`, `RAMPART_TOKEN`), how long to wait for it
//! (`--request-timeout`, `RAMPART_REQUEST_TIMEOUT`), and turning its JSON errors into one line.
//! The one HTTP agent of the CLI is built here.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use clap::Args;
use rampart_core::config::Duration as ConfigDuration;
use serde_json::Value;

use crate::exit::{Exit, Failure};

/// Longest wait for a TCP connection, whatever the request timeout: a server that is up accepts
/// at once, and an address that drops packets should be reported soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "RAMPART_SERVER", global = true)]
    pub server: Option<String>,
    /// Take the server address from this config's `server.listen`.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Bearer token for a server with `[auth]` tokens (prefer the variable: arguments are visible
    /// to other users of the machine).
    #[arg(long, env = "RAMPART_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Give up on a request the server has not answered in this long (connecting takes at most
    /// 5s of it), e.g. `10s`, `2m`.
    #[arg(
        long,
        env = "RAMPART_REQUEST_TIMEOUT",
        global = true,
        default_value = "30s",
        value_parser = positive_duration
    )]
    pub request_timeout: ConfigDuration,
    #[arg(skip)]
    agent: OnceLock<ureq::Agent>,
}

/// A duration flag that must be more than zero.
pub fn positive_duration(s: &str) -> Result<ConfigDuration, String> {
    let d: ConfigDuration = s.parse().map_err(|e| format!("{e}"))?;
    if d.as_millis() == 0 {
        return Err("must be more than 0ms".to_string());
    }
    Ok(d)
}

impl Target {
    pub fn base(&self) -> Result<String, String> {
        if let Some(s) = &self.server {
            return Ok(s.trim_end_matches('/').to_string());
        }
        if let Some(path) = &self.config {
            let config = rampart_core::config::load_file(path).map_err(|e| e.to_string())?;
            return Ok(format!("http://{}", config.server.listen));
        }
        Ok("http://127.0.0.1:8080".to_string())
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout.as_millis())
    }

    /// The agent every request goes through: no request waits longer than the request timeout.
    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            ureq::AgentBuilder::new()
                .timeout_connect(CONNECT_TIMEOUT.min(self.timeout()))
                .timeout(self.timeout())
                .build()
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        self.get_within(path, None)
    }

    /// [`Target::get`], given up after `limit` when that is shorter than the request timeout.
    pub fn get_within(&self, path: &str, limit: Option<Duration>) -> Result<Value, Failure> {
        let base = self.base()?;
        let url = format!("{base}{path}");
        let mut req = self.authorized(self.agent().get(&url));
        let mut waited = self.timeout();
        if let Some(limit) = limit.filter(|l| *l < waited) {
            req = req.timeout(limit);
            waited = limit;
        }
        answer(&base, &url, waited, req.call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let base = self.base()?;
        let url = format!("{base}{path}");
        let reply = self.authorized(self.agent().post(&url)).send_json(body);
        answer(&base, &url, self.timeout(), reply)
    }

    fn authorized(&self, req: ureq::Request) -> ureq::Request {
        match self.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => req.set("authorization", &format!("Bearer {t}")),
            _ => req,
        }
    }
}

/// The reply's JSON, or one line naming the URL and the server's error message. A server that
/// cannot be reached or does not answer in time is `Exit::Unreachable`, named by its address.
fn answer(
    base: &str,
    url: &str,
    waited: Duration,
    reply: Result<ureq::Response, ureq::Error>,
) -> Result<Value, Failure> {
    let silent = || {
        Failure::new(
            Exit::Unreachable,
            format!(
                "no answer from the server at {base} within {}",
                ConfigDuration::from_millis(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX))
            ),
        )
    };
    match reply {
        Ok(resp) => resp.into_json().map_err(|e| {
            if is_timeout(&e) {
                silent()
            } else {
                Failure::from(format!("{url}: unreadable reply: {e}"))
            }
        }),
        Err(ureq::Error::Status(code, resp)) => {
            let body: Value = resp.into_json().unwrap_or(Value::Null);
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            let hint = match code {
                401 => " (pass a token with --token or RAMPART_TOKEN)",
                _ => "",
            };
            Err(format!("{url}: {code}: {msg}{hint}").into())
        }
        Err(ureq::Error::Transport(t)) => {
            let timed_out = std::error::Error::source(&t)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(is_timeout);
            if timed_out {
                return Err(silent());
            }
            let why = std::error::Error::source(&t)
                .map(|s| format!("{}: {s}", t.kind()))
                .or_else(|| t.message().map(|m| format!("{}: {m}", t.kind())))
                .unwrap_or_else(|| t.kind().to_string());
            Err(Failure::new(
                Exit::Unreachable,
                format!("cannot reach the server at {base}: {why}"),
            ))
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

/// Who the CLI says asks, for the decision log.
pub fn actor() -> String {
    std::env::var("USER")
        .map(|u| format!("{u} (cli)"))
        .unwrap_or_else(|_| "cli".to_string())
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
