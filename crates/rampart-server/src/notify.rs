//! Webhook notifications on stage changes, approvals needed, pauses, rollbacks and completions.
//! Each webhook has its own thread and queue, so a slow or failing receiver delays only its own
//! deliveries and never the controller. Failed deliveries are retried with exponential backoff.

use std::sync::mpsc;
use std::time::Duration;

use rampart_core::config::{Webhook, WebhookFormat};
use rampart_core::rollout::Notification;
use serde::Serialize;

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

/// Sends events to every webhook that wants them.
#[derive(Debug, Default)]
pub struct Notifier {
    targets: Vec<(Webhook, mpsc::SyncSender<Event>)>,
}

impl Notifier {
    pub fn new(
        webhooks: &[Webhook],
        telemetry: std::sync::Arc<crate::telemetry::Telemetry>,
    ) -> Notifier {
        let targets = webhooks
            .iter()
            .map(|w| {
                let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE);
                let hook = w.clone();
                let telemetry = telemetry.clone();
                std::thread::Builder::new()
                    .name("rampart-webhook".into())
                    .spawn(move || deliver_all(&hook, rx, &telemetry))
                    .expect("a webhook thread can be spawned");
                (w.clone(), tx)
            })
            .collect();
        Notifier { targets }
    }

    /// Queues `event` for every webhook subscribed to its kind; never blocks.
    pub fn send(&self, event: Event) {
        for (hook, tx) in &self.targets {
            if hook.wants(event.kind) && tx.try_send(event.clone()).is_err() {
                tracing::warn!(url = %hook.url, "webhook queue full or closed; notification dropped");
            }
        }
    }
}

fn deliver_all(hook: &Webhook, rx: mpsc::Receiver<Event>, telemetry: &crate::telemetry::Telemetry) {
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
                    tracing::warn!(url = %hook.url, attempt, error = %e, "webhook failed; retrying");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(e) => {
                    telemetry
                        .webhooks_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(url = %hook.url, error = %e, "webhook failed; giving up");
                }
            }
        }
    }
}
