//! The Prometheus HTTP client behind `prometheus` metrics: instant queries
//! (`GET /api/v1/query?query=...`) with a timeout and an optional bearer token, and the parsing
//! of Prometheus's JSON answer into a [`Reading`]. Every failure becomes a reading, never an
//! error of the controller: the analysis turns it into an inconclusive verdict and the rollout
//! state machine counts it toward its consecutive-error limit.
//!
//! Queries are blocking (ureq, over TLS for `https://`, see `tls`) and run on the blocking pool, all of one look at once
//! ([`read_all`]); the controller fetches before it takes the control lock.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rampart_core::analysis::provider::{Reading, Readings};
use rampart_core::config::{PrometheusConfig, SecretSource};
use serde_json::Value;

use crate::secret::read_secret;

/// Largest answer read from Prometheus; an instant query of one series is far smaller.
const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// A client of one Prometheus server.
pub struct Prometheus {
    /// Base URL without a trailing slash.
    base: String,
    agent: ureq::Agent,
    timeout: std::time::Duration,
    token: Option<String>,
}

// The token stays out of logs.
impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Prometheus {
    /// A client for `config`, with its bearer token read from `token_file` (relative to
    /// `config_dir`) or `token_env`. A configured token source that cannot be read is an error.
    pub fn new(
        config: &PrometheusConfig,
        config_dir: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Prometheus, String> {
        let source = match (&config.token_file, &config.token_env) {
            (Some(file), _) => Some(("prometheus.token_file", SecretSource::File(file))),
            (None, Some(var)) => Some(("prometheus.token_env", SecretSource::Env(var))),
            (None, None) => None,
        };
        let token = match source {
            Some((field, source)) => {
                let text =
                    read_secret(source, config_dir, &env).map_err(|e| format!("{field}: {e}"))?;
                Some(non_empty(text, field)?)
            }
            None => None,
        };
        let timeout = std::time::Duration::from_millis(config.timeout.as_millis());
        Ok(Prometheus {
            base: config.url.trim_end_matches('/').to_string(),
            agent: crate::tls::agent_builder().timeout(timeout).build(),
            timeout,
            token,
        })
    }

    /// Runs one instant query; blocking, at most the configured timeout.
    pub fn query(&self, promql: &str) -> Reading {
        let url = format!("{}/api/v1/query", self.base);
        // Prometheus stops evaluating at its own timeout too, so a slow query does not pile up.
        let seconds = format!("{}s", self.timeout.as_secs_f64());
        let mut request = self
            .agent
            .get(&url)
            .query("query", promql)
            .query("timeout", &seconds);
        if let Some(token) = &self.token {
            request = request.set("authorization", &format!("Bearer {token}"));
        }
        match request.call() {
            Ok(response) => {
                let status = response.status();
                match read_body(response) {
                    Ok(body) => parse_answer(status, &body),
                    Err(e) => Reading::Error {
                        message: format!("cannot read the answer of Prometheus at {url}: {e}"),
                    },
                }
            }
            Err(ureq::Error::Status(status, response)) => {
                let body = read_body(response).unwrap_or_default();
                parse_answer(status, &body)
            }
            Err(ureq::Error::Transport(t)) => Reading::Error {
                message: format!(
                    "cannot reach Prometheus at {url}: {}",
                    crate::tls::explain(&t)
                ),
            },
        }
    }
}

fn non_empty(text: String, source: &str) -> Result<String, String> {
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{source}: the bearer token is empty"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(format!(
            "{source}: the bearer token must be one word without whitespace"
        ));
    }
    Ok(token.to_string())
}

fn read_body(response: ureq::Response) -> std::io::Result<String> {
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_ANSWER_BYTES)
        .read_to_string(&mut body)?;
    Ok(body)
}

/// Turns an answer of `/api/v1/query` into a reading: a vector of exactly one sample or a scalar
/// is a value; no sample, several samples, a range vector or a string has no value; an error
/// status or an answer that is not Prometheus's JSON is an error.
pub fn parse_answer(status: u16, body: &str) -> Reading {
    let json: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => {
            let start: String = body.chars().take(200).collect();
            return Reading::Error {
                message: format!(
                    "Prometheus answered HTTP {status} with a body that is not its JSON: {start:?}"
                ),
            };
        }
    };
    if json["status"] != "success" || !(200..300).contains(&status) {
        let kind = json["errorType"].as_str().unwrap_or("error");
        let what = json["error"].as_str().unwrap_or("no error message");
        return Reading::Error {
            message: format!("Prometheus answered HTTP {status}: {kind}: {what}"),
        };
    }
    let data = &json["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => match result.as_array().map(Vec::as_slice) {
            Some([one]) => sample_value(&one["value"]),
            Some([]) => Reading::NoValue {
                reason: "the query returned no series (no data yet, or a label matches nothing)"
                    .to_string(),
            },
            Some(many) => Reading::NoValue {
                reason: format!(
                    "the query returned {} series; a metric needs exactly one, so aggregate it (e.g. sum(...) or max(...))",
                    many.len()
                ),
            },
            None => malformed("a vector without a result list"),
        },
        Some("scalar") => sample_value(result),
        Some("matrix") => Reading::NoValue {
            reason: "the query returned a range vector; use an instant expression such as rate(x[5m]) rather than x[5m]".to_string(),
        },
        Some("string") => Reading::NoValue {
            reason: "the query returned a string, not a number".to_string(),
        },
        _ => malformed("no known resultType"),
    }
}

/// The number of a `[timestamp, "value"]` pair; Prometheus writes NaN as `"NaN"`, infinities as
/// `"+Inf"`/`"-Inf"`.
fn sample_value(pair: &Value) -> Reading {
    let Some(text) = pair.get(1).and_then(Value::as_str) else {
        return malformed("a sample without a value");
    };
    match text.parse::<f64>() {
        Ok(value) => Reading::Value { value },
        Err(_) => malformed(&format!("a sample value {text:?} that is not a number")),
    }
}

fn malformed(what: &str) -> Reading {
    Reading::Error {
        message: format!("Prometheus answered with {what}"),
    }
}

/// Runs every query at once on the blocking pool and gathers the readings by query.
pub async fn read_all(client: Arc<Prometheus>, queries: Vec<String>) -> Readings {
    let mut running = Vec::with_capacity(queries.len());
    for q in queries {
        let client = client.clone();
        let query = q.clone();
        running.push((q, tokio::task::spawn_blocking(move || client.query(&query))));
    }
    let mut out = Readings::new();
    for (q, handle) in running {
        let reading = handle.await.unwrap_or_else(|e| Reading::Error {
            message: format!("the query task failed: {e}"),
        });
        out.insert(q, reading);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(r: &Reading) -> Option<f64> {
        match r {
            Reading::Value { value } => Some(*value),
            _ => None,
        }
    }

    #[test]
    fn one_sample_or_a_scalar_is_a_value() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"variant":"v2"},"value":[1700000000.5,"0.25"]}]}}"#;
        assert_eq!(value(&parse_answer(200, one)), Some(0.25));
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"3"]}}"#;
        assert_eq!(value(&parse_answer(200, scalar)), Some(3.0));
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert!(value(&parse_answer(200, nan)).is_some_and(f64::is_nan));
        let inf = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}"#;
        assert_eq!(value(&parse_answer(200, inf)), Some(f64::INFINITY));
    }

    #[test]
    fn no_series_several_series_and_ranges_have_no_value() {
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(
            parse_answer(200, empty),
            Reading::NoValue { reason } if reason.contains("no series")
        ));
        let two = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#;
        assert!(matches!(
            parse_answer(200, two),
            Reading::NoValue { reason } if reason.contains("returned 2 series")
        ));
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(parse_answer(200, matrix), Reading::NoValue { .. }));
    }

    #[test]
    fn error_answers_and_garbage_are_errors() {
        let bad = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
        match parse_answer(400, bad) {
            Reading::Error { message } => assert_eq!(
                message,
                "Prometheus answered HTTP 400: bad_data: 1:5: parse error: unexpected end of input"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_answer(502, "<html>Bad Gateway</html>"),
            Reading::Error { message } if message.contains("HTTP 502")
        ));
        let no_value = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}"#;
        assert!(matches!(parse_answer(200, no_value), Reading::Error { .. }));
    }

    #[test]
    fn tokens_come_from_a_file_or_a_variable_and_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("prom.token"), "s3cret-token\n").unwrap();
        let mut config = PrometheusConfig {
            url: "http://127.0.0.1:9090/".into(),
            timeout: rampart_core::config::Duration::from_secs(2),
            token_file: Some("prom.token".into()),
            token_env: None,
        };
        let client = Prometheus::new(&config, Some(dir.path()), |_| None).unwrap();
        assert_eq!(client.token.as_deref(), Some("s3cret-token"));
        assert_eq!(client.base, "http://127.0.0.1:9090");
        assert!(!format!("{client:?}").contains("s3cret"));
        config.token_file = Some("missing.token".into());
        let err = Prometheus::new(&config, Some(dir.path()), |_| None).unwrap_err();
        assert!(
            err.starts_with("prometheus.token_file: cannot read"),
            "{err}"
        );
        config.token_file = None;
        config.token_env = Some("PROM_TOKEN".into());
        let from_env =
            Prometheus::new(&config, None, |v| (v == "PROM_TOKEN").then(|| "abc".into())).unwrap();
        assert_eq!(from_env.token.as_deref(), Some("abc"));
        let unset = Prometheus::new(&config, None, |_| None).unwrap_err();
        assert_eq!(
            unset,
            "prometheus.token_env: environment variable PROM_TOKEN is not set"
        );
    }
}
