//! Talking to a running server: where it is (`--server`, `RAMPART_SERVER`, or the listen address
//! of `--config`), the bearer token to send (`--token`, `RAMPART_TOKEN`), and turning its JSON
//! errors into one line.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

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

    pub fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base()?);
        answer(&url, self.authorized(agent().get(&url)).call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base()?);
        answer(&url, self.authorized(agent().post(&url)).send_json(body))
    }

    fn authorized(&self, req: ureq::Request) -> ureq::Request {
        match self.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => req.set("authorization", &format!("Bearer {t}")),
            _ => req,
        }
    }
}

/// An HTTP client that trusts the same roots as the server's outbound connections (the
/// system's, or `SSL_CERT_FILE`), so an https:// server behind a private CA works.
fn agent() -> ureq::Agent {
    rampart_server::tls::agent_builder().build()
}

/// The reply's JSON, or one line naming the URL and the server's error message.
fn answer(url: &str, reply: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
    match reply {
        Ok(resp) => resp
            .into_json()
            .map_err(|e| format!("{url}: unreadable reply: {e}")),
        Err(ureq::Error::Status(code, resp)) => {
            let body: Value = resp.into_json().unwrap_or(Value::Null);
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            let hint = match code {
                401 => " (pass a token with --token or RAMPART_TOKEN)",
                _ => "",
            };
            Err(format!("{url}: {code}: {msg}{hint}"))
        }
        Err(ureq::Error::Transport(t)) => {
            // The transport error starts with the URL itself; say it once.
            let why = rampart_server::tls::explain(&t);
            let why = why.strip_prefix(&format!("{url}: ")).unwrap_or(&why);
            Err(format!("cannot reach the server at {url}: {why}"))
        }
    }
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
