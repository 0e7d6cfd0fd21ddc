//! Webhook notifications on stage changes, approvals needed, pauses, rollbacks and completions.
//! Each webhook has its own thread and queue, so a slow or failing receiver delays only its own
//! deliveries and never the controller. Failed deliveries are retried with exponential backoff.
//! A webhook's URL is a credential: it is read from the config, a variable or a file
//! ([`resolve_webhooks`]), and logs show only its scheme, host and port.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rampart_core::config::{http_url_problem, SecretSource, Webhook, WebhookFormat};
use rampart_core::rollout::Notification;
use serde::Serialize;

use crate::secret::read_secret;

/// Attempts per delivery, and the first wait between them (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries queued per webhook before new ones are dropped (and counted).
const QUEUE: usize = 1_000;

/// What happened to a rollout, as sent to webhooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: Notification,
    pub rollout: String,
    pub model: String,
    pub state: String,
    pub traffic: f64,
    pub reason: String,
    pub actor: String,
    pub decision_id: Option<i64>,
}

impl Event {
    /// One line for chat.
    pub fn text(&self) -> String {
        let what = match self.kind {
            Notification::StageChanged => "moved to a new stage",
            Notification::ApprovalNeeded => "needs approval to continue",
            Notification::Paused => "is paused",
            Notification::RolledBack => "was rolled back",
            Notification::Completed => "completed",
        };
        format!(
            "rampart: rollout {} of {} {what}: {} ({})",
            self.rollout, self.model, self.state, self.reason
        )
    }
}

/// A webhook ready to deliver to: its URL read from wherever the config keeps it.
#[derive(Clone)]
pub struct Hook {
    url: String,
    /// `scheme://host:port` of the URL: what logs show, since the rest may be a credential.
    origin: String,
    events: Option<Vec<Notification>>,
    format: WebhookFormat,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("origin", &self.origin)
            .field("events", &self.events)
            .field("format", &self.format)
            .finish()
    }
}

impl Hook {
    fn wants(&self, kind: Notification) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&kind))
    }
}

/// Reads every webhook's URL (`url`, `url_env` or `url_file`, relative to `config_dir`) and
/// checks it; each problem names its field and never quotes the URL.
pub fn resolve_webhooks(
    webhooks: &[Webhook],
    config_dir: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Hook>, Vec<String>> {
    let mut hooks = Vec::new();
    let mut errors = Vec::new();
    for (i, w) in webhooks.iter().enumerate() {
        let (field, source) = match w.url_source() {
            Some(s @ SecretSource::Inline(_)) => ("url", s),
            Some(s @ SecretSource::Env(_)) => ("url_env", s),
            Some(s @ SecretSource::File(_)) => ("url_file", s),
            None => {
                errors.push(format!(
                    "webhooks[{i}]: give the URL in exactly one of url, url_env and url_file"
                ));
                continue;
            }
        };
        let at = format!("webhooks[{i}].{field}");
        let url = match read_secret(source, config_dir, &env) {
            Ok(text) => text.trim().to_string(),
            Err(e) => {
                errors.push(format!("{at}: {e}"));
                continue;
            }
        };
        if url.is_empty() {
            errors.push(format!("{at}: holds no URL"));
            continue;
        }
        if let Some(problem) = http_url_problem(&url) {
            errors.push(format!("{at}: {problem}"));
            continue;
        }
        hooks.push(Hook {
            origin: origin_of(&url),
            url,
            events: w.events.clone(),
            format: w.format,
        });
    }
    if errors.is_empty() {
        Ok(hooks)
    } else {
        Err(errors)
    }
}

/// `scheme://host:port` of a URL, without user, password, path or query.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

/// One delivery thread's queue, per webhook.
type Target = (Hook, mpsc::SyncSender<Event>);

/// Sends events to every webhook that wants them. A reload replaces the webhooks; deliveries
/// already queued for the old ones still go out.
#[derive(Debug, Default)]
pub struct Notifier {
    targets: Mutex<Vec<Target>>,
    telemetry: Arc<crate::telemetry::Telemetry>,
}

impl Notifier {
    pub fn new(hooks: Vec<Hook>, telemetry: Arc<crate::telemetry::Telemetry>) -> Notifier {
        let notifier = Notifier {
            targets: Mutex::new(Vec::new()),
            telemetry,
        };
        notifier.replace(hooks);
        notifier
    }

    /// Starts a delivery thread per hook and retires the old ones (each ends when its queue is
    /// drained).
    pub fn replace(&self, hooks: Vec<Hook>) {
        let targets = hooks
            .into_iter()
            .map(|hook| {
                let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE);
                let delivered = hook.clone();
                let telemetry = self.telemetry.clone();
                std::thread::Builder::new()
                    .name("rampart-webhook".into())
                    .spawn(move || deliver_all(&delivered, rx, &telemetry))
                    .expect("a webhook thread can be spawned");
                (hook, tx)
            })
            .collect();
        *self.targets.lock().unwrap_or_else(|p| p.into_inner()) = targets;
    }

    /// Queues `event` for every webhook subscribed to its kind; never blocks.
    pub fn send(&self, event: Event) {
        let targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        for (hook, tx) in targets.iter() {
            if hook.wants(event.kind) && tx.try_send(event.clone()).is_err() {
                tracing::warn!(webhook = %hook.origin, "webhook queue full or closed; notification dropped");
            }
        }
    }
}

/// Why a delivery failed, in words that do not quote the URL.
fn failure(hook: &Hook, e: &ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, _) => format!("the receiver answered HTTP {code}"),
        ureq::Error::Transport(t) => crate::tls::explain(t).replace(&hook.url, &hook.origin),
    }
}

fn deliver_all(hook: &Hook, rx: mpsc::Receiver<Event>, telemetry: &crate::telemetry::Telemetry) {
    let agent = crate::tls::agent_builder().timeout(TIMEOUT).build();
    for event in rx {
        let body = match hook.format {
            WebhookFormat::Json => serde_json::to_value(&event).unwrap_or_default(),
            WebhookFormat::Slack => serde_json::json!({ "text": event.text() }),
        };
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match agent.post(&hook.url).send_json(&body) {
                Ok(_) => {
                    telemetry
                        .webhooks_sent
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Err(e) if attempt < ATTEMPTS => {
                    let error = failure(hook, &e);
                    tracing::warn!(webhook = %hook.origin, attempt, %error, "webhook failed; retrying");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(e) => {
                    telemetry
                        .webhooks_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let error = failure(hook, &e);
                    tracing::error!(webhook = %hook.origin, %error, "webhook failed; giving up");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::config::Webhook;

    fn hook(url: Option<&str>, env: Option<&str>, file: Option<&str>) -> Webhook {
        Webhook {
            url: url.map(Into::into),
            url_env: env.map(Into::into),
            url_file: file.map(Into::into),
            events: None,
            format: WebhookFormat::Slack,
        }
    }

    #[test]
    fn urls_come_from_the_config_a_variable_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("slack.url"),
            "https://hooks.slack.com/services/T/B/file\n",
        )
        .unwrap();
        let env = |v: &str| {
            (v == "SLACK_URL").then(|| " https://u:p@hooks.slack.com/services/T/B/env ".into())
        };
        let hooks = resolve_webhooks(
            &[
                hook(Some("http://127.0.0.1:9/hook"), None, None),
                hook(None, Some("SLACK_URL"), None),
                hook(None, None, Some("slack.url")),
            ],
            Some(dir.path()),
            env,
        )
        .unwrap();
        let urls: Vec<&str> = hooks.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:9/hook",
                "https://u:p@hooks.slack.com/services/T/B/env",
                "https://hooks.slack.com/services/T/B/file"
            ]
        );
        let origins: Vec<&str> = hooks.iter().map(|h| h.origin.as_str()).collect();
        assert_eq!(
            origins,
            [
                "http://127.0.0.1:9",
                "https://hooks.slack.com",
                "https://hooks.slack.com"
            ]
        );
        assert!(!format!("{hooks:?}").contains("services"));
    }

    #[test]
    fn a_missing_variable_or_file_or_a_bad_url_is_an_error_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.url"), "ftp://files/s3cr3t\n").unwrap();
        std::fs::write(dir.path().join("empty.url"), "\n").unwrap();
        let errors = resolve_webhooks(
            &[
                hook(None, Some("UNSET_URL"), None),
                hook(None, None, Some("missing.url")),
                hook(None, None, Some("bad.url")),
                hook(None, None, Some("empty.url")),
            ],
            Some(dir.path()),
            |_| None,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(
            errors[0],
            "webhooks[0].url_env: environment variable UNSET_URL is not set"
        );
        assert!(
            errors[1].starts_with(&format!(
                "webhooks[1].url_file: cannot read {}",
                dir.path().join("missing.url").display()
            )),
            "{}",
            errors[1]
        );
        assert_eq!(
            errors[2],
            "webhooks[2].url_file: the scheme \"ftp\" is not supported: expected an http:// or https:// URL with a host"
        );
        assert_eq!(errors[3], "webhooks[3].url_file: holds no URL");
        assert!(errors.iter().all(|e| !e.contains("s3cr3t")));
    }
}
