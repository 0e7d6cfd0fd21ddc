//! The ingest pipeline's one writer: a dedicated thread that takes exposures, interleaved
//! impressions and event batches in arrival order, appends them to the store in one transaction per round, acknowledges event
//! batches only after the commit, and then folds what was stored into the evidence, in the same
//! order the store numbered it (so a replay after restart rebuilds identical evidence).
//! Each commit also sets the ingest lag: from the arrival of the round's oldest record (an
//! exposure's or impression's time, an event batch's reception) to the commit.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rampart_core::evidence::Aggregator;
use rampart_core::{Config, Exposure, ImpressionRecord, Millis, OutcomeEvent, Record};
use rampart_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::telemetry::Telemetry;

/// Most records appended in one transaction.
const MAX_ROUND: usize = 50_000;

/// How many events a batch stored and how many were already known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: usize,
    pub duplicates: usize,
}

/// An event batch of the current round: where its records sit, and whom to answer.
type Pending = (
    std::ops::Range<usize>,
    oneshot::Sender<Result<Ingested, String>>,
);

pub(crate) enum Msg {
    Exposure(Exposure),
    Impression(Box<ImpressionRecord>),
    Events {
        events: Vec<OutcomeEvent>,
        /// When the batch was handed to the writer.
        arrived: Millis,
        reply: oneshot::Sender<Result<Ingested, String>>,
    },
    /// Rebuild the evidence from the whole store for a new config.
    Rebuild {
        config: Arc<Config>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Answer once everything sent before has been stored.
    Flush(oneshot::Sender<()>),
}

/// The sending side, cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer thread. `aggregator` must already hold the evidence of everything stored.
    pub fn spawn(
        store: Arc<dyn Store>,
        aggregator: Arc<Mutex<Aggregator>>,
        telemetry: Arc<Telemetry>,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(65_536);
        let handle = std::thread::Builder::new()
            .name("rampart-writer".into())
            .spawn(move || run(rx, store, aggregator, telemetry))
            .expect("the writer thread can be spawned");
        (Writer { tx }, handle)
    }

    /// Queues an exposure; waits only when the writer is far behind.
    pub async fn expose(&self, exposure: Exposure) -> Result<(), String> {
        self.tx
            .send(Msg::Exposure(exposure))
            .await
            .map_err(|_| "the writer has stopped".to_string())
    }

    /// Queues an interleaved impression, like an exposure: clicks sent after it are folded after
    /// it, so they find it.
    pub async fn impression(&self, impression: ImpressionRecord) -> Result<(), String> {
        self.tx
            .send(Msg::Impression(Box::new(impression)))
            .await
            .map_err(|_| "the writer has stopped".to_string())
    }

    /// Stores a batch of events; returns once they are durable.
    pub async fn ingest(&self, events: Vec<OutcomeEvent>) -> Result<Ingested, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Events {
                events,
                arrived: now_ms(),
                reply,
            })
            .await
            .map_err(|_| "the writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "the writer stopped before storing the batch".to_string())?
    }

    /// Queues a batch of events the service made itself (the proxy's): stored and folded like
    /// any batch, but nobody waits for the commit; waits only when the writer is far behind.
    pub async fn submit(&self, events: Vec<OutcomeEvent>) -> Result<(), String> {
        let (reply, _) = oneshot::channel();
        self.tx
            .send(Msg::Events {
                events,
                arrived: now_ms(),
                reply,
            })
            .await
            .map_err(|_| "the writer has stopped".to_string())
    }

    pub async fn rebuild(&self, config: Arc<Config>) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Rebuild { config, reply })
            .await
            .map_err(|_| "the writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "the writer stopped during the rebuild".to_string())?
    }

    /// Messages queued and not yet taken by the writer thread.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Folds every stored record into `aggregator`, in store order.
pub fn replay_into(store: &dyn Store, aggregator: &mut Aggregator) -> Result<u64, String> {
    let mut n = 0u64;
    store
        .replay(0, &mut |_, rec| {
            aggregator.fold(&rec);
            n += 1;
        })
        .map_err(|e| e.to_string())?;
    Ok(n)
}

fn run(
    mut rx: mpsc::Receiver<Msg>,
    store: Arc<dyn Store>,
    aggregator: Arc<Mutex<Aggregator>>,
    telemetry: Arc<Telemetry>,
) {
    let mut records: Vec<Record> = Vec::new();
    // Per event batch of this round: where its records sit in `records`, and whom to answer.
    let mut waiting: Vec<Pending> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut control: Option<Msg> = None;
        let mut oldest = Millis::MAX;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Exposure(e) => {
                    oldest = oldest.min(e.ts);
                    records.push(Record::Exposure(e));
                }
                Msg::Impression(m) => {
                    oldest = oldest.min(m.ts);
                    records.push(Record::Impression(*m));
                }
                Msg::Events {
                    events,
                    arrived,
                    reply,
                } => {
                    oldest = oldest.min(arrived);
                    let start = records.len();
                    records.extend(events.into_iter().map(Record::Event));
                    waiting.push((start..records.len(), reply));
                }
                Msg::Flush(reply) => flushes.push(reply),
                rebuild @ Msg::Rebuild { .. } => {
                    // Store what came before it first, so the rebuild sees it.
                    control = Some(rebuild);
                    break;
                }
            }
            if records.len() >= MAX_ROUND {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !records.is_empty()
            && commit(&*store, &aggregator, &telemetry, &mut records, &mut waiting)
        {
            telemetry.set_ingest_lag(oldest, now_ms());
        }
        for f in flushes.drain(..) {
            let _ = f.send(());
        }
        if let Some(Msg::Rebuild { config, reply }) = control {
            let mut fresh = Aggregator::new(&config);
            let result = replay_into(&*store, &mut fresh).map(|_| ());
            if result.is_ok() {
                *aggregator.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
            let _ = reply.send(result);
        }
    }
}

fn commit(
    store: &dyn Store,
    aggregator: &Mutex<Aggregator>,
    telemetry: &Telemetry,
    records: &mut Vec<Record>,
    waiting: &mut Vec<Pending>,
) -> bool {
    let stored = match store.append(records) {
        Ok(appended) => {
            {
                let mut agg = aggregator.lock().unwrap_or_else(|p| p.into_inner());
                for (rec, fresh) in records.iter().zip(&appended.fresh) {
                    if *fresh {
                        agg.fold(rec);
                    }
                }
            }
            telemetry.count_stored(records, &appended.fresh);
            for (range, reply) in waiting.drain(..) {
                let duplicates = appended.fresh[range.clone()]
                    .iter()
                    .filter(|f| !**f)
                    .count();
                let accepted = range.len() - duplicates;
                telemetry
                    .events_duplicate
                    .fetch_add(duplicates as u64, std::sync::atomic::Ordering::Relaxed);
                let _ = reply.send(Ok(Ingested {
                    accepted,
                    duplicates,
                }));
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, records = records.len(), "append to the store failed");
            telemetry
                .store_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for (_, reply) in waiting.drain(..) {
                let _ = reply.send(Err(format!("the store refused the batch: {e}")));
            }
            false
        }
    };
    records.clear();
    stored
}
