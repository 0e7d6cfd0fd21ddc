//! What the store benches share: the events they append and the way they time a step.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rampart_core::{OutcomeEvent, Record};
use rampart_store::{Store, StoreError};

pub const BATCH: usize = 1_000;

/// A batch of events with pseudo-random 32-hex-digit ids and all seven fields set.
pub fn batch(index: usize) -> Vec<Record> {
    (0..BATCH)
        .map(|i| {
            let n = (index * BATCH + i) as u64;
            let id = xxhash_rust::xxh3::xxh3_128_with_seed(&n.to_le_bytes(), 0x5eed);
            Record::Event(OutcomeEvent {
                id: format!("{id:032x}"),
                kind: "purchase".to_owned(),
                unit: format!("user-{}", n % 100_003),
                model: "checkout-recs".to_owned(),
                value: Some((n % 9_973) as f64 * 0.25),
                ts: 1_700_000_000_000 + n as i64,
                attributes: BTreeMap::from([("country".to_owned(), "fr".to_owned())]),
            })
        })
        .collect()
}

/// CPU time used by this process so far (user + system), from `/proc/self/stat`; zero where that
/// file does not exist. On a shared machine it is steadier than wall time.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name, which ends with the last ')'; utime and stime are the 14th
    // and 15th fields of the line, in clock ticks (100 per second on Linux).
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

/// Times `f`, which handles `n` elements, and prints its rate per wall second and per CPU second.
pub fn measure<T>(label: &str, n: usize, f: impl FnOnce() -> T) -> T {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f();
    let (wall, cpu) = (wall.elapsed(), cpu_time().saturating_sub(cpu));
    let per = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{label:<26}{:>12.0} /s wall {:>12.0} /s cpu   ({n} in {:.3} s wall, {:.2} s cpu)",
        per(wall),
        per(cpu),
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
    out
}

/// The cases every store is measured on: appending `batches` (fresh ids), appending the first
/// 200 of them again (every id already stored), and replaying the log.
pub fn append_and_replay(
    store: &dyn Store,
    fresh_label: &str,
    batches: &[Vec<Record>],
) -> Result<(), StoreError> {
    let total = batches.len() * BATCH;
    measure(fresh_label, total, || {
        for b in batches {
            let appended = store.append(b)?;
            assert_eq!(appended.duplicates, 0, "the bench ids must be distinct");
        }
        Ok::<_, StoreError>(())
    })?;
    let dup_batches = &batches[..batches.len().min(200)];
    measure("append, all duplicates", dup_batches.len() * BATCH, || {
        for b in dup_batches {
            let appended = store.append(b)?;
            assert_eq!(appended.duplicates, BATCH, "every id was stored before");
        }
        Ok::<_, StoreError>(())
    })?;
    let mut replayed = 0usize;
    measure("replay", total, || {
        store.replay(0, &mut |_, _| replayed += 1)
    })?;
    assert_eq!(replayed, total);
    Ok(())
}
