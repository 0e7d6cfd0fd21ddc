//! The one clock of the service, and timestamps as clients send them (Unix milliseconds or
//! RFC 3339 text).
//!
//! The clock runs at the speed of the wall clock unless [`accelerate`] was called once, at
//! start-up: `rampart demo` runs a day of traffic in minutes that way. Everything time-based in
//! the server (stage durations, stopping rules, timestamps of exposures, events and decisions)
//! reads [`now_ms`], so all of it follows the faster clock; only the controller's tick stays a
//! real-time interval.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_core::Millis;

/// Now, in Unix milliseconds: the wall clock, or the accelerated clock once [`accelerate`] ran.
pub fn now_ms() -> Millis {
    match ACCELERATION.get() {
        Some(a) => a.at(a.origin.elapsed()),
        None => wall_ms(),
    }
}

/// The wall clock in Unix milliseconds, whatever the speed of [`now_ms`].
#[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
pub fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// How many times faster than the wall clock [`now_ms`] runs: 1 unless [`accelerate`] ran.
pub fn speed() -> f64 {
    ACCELERATION.get().map_or(1.0, |a| a.factor)
}

/// The fastest the clock may run: a simulated year in under nine hours.
pub const MAX_SPEED: f64 = 1_000.0 * 1_000.0;

static ACCELERATION: OnceLock<Acceleration> = OnceLock::new();

/// A clock that starts at `start` and runs `factor` times faster than real time.
#[derive(Debug, Clone, Copy)]
pub struct Acceleration {
    /// Simulated Unix milliseconds at `origin`.
    pub start: Millis,
    pub factor: f64,
    origin: Instant,
}

impl Acceleration {
    /// A clock that reads `start` now and then runs `factor` times faster than the wall clock.
    pub fn new(start: Millis, factor: f64) -> Result<Acceleration, ClockError> {
        if !factor.is_finite() || !(1.0..=MAX_SPEED).contains(&factor) {
            return Err(ClockError::InvalidSpeed(factor));
        }
        Ok(Acceleration {
            start,
            factor,
            origin: Instant::now(),
        })
    }

    /// Its reading after `elapsed` real time: `start + elapsed × factor`.
    pub fn at(&self, elapsed: Duration) -> Millis {
        self.start + (elapsed.as_secs_f64() * 1_000.0 * self.factor) as Millis
    }
}

/// Why the clock cannot be accelerated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    #[error("speed must be a number from 1 to {MAX_SPEED}, got {0}")]
    InvalidSpeed(f64),
    #[error("the clock was already accelerated (to {0}x); its speed is set once per process")]
    AlreadySet(f64),
}

/// Makes [`now_ms`] read `start` now and run `factor` times faster than the wall clock from here
/// on, for the rest of the process. Set once, before the server starts: a clock that changed speed
/// under running stages would stretch or shrink them.
pub fn accelerate(start: Millis, factor: f64) -> Result<(), ClockError> {
    let clock = Acceleration::new(start, factor)?;
    ACCELERATION
        .set(clock)
        .map_err(|_| ClockError::AlreadySet(speed()))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        millis = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let m = oh * 60 + om;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3_600 + mi * 60 + se - offset_min * 60) * 1_000) + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accelerated_clock_runs_factor_times_faster_from_its_start() {
        let clock = Acceleration::new(1_795_731_982_000, 600.0).unwrap();
        assert_eq!(clock.at(Duration::ZERO), 1_795_731_982_000);
        // 6 s of real time are an hour at 600x.
        assert_eq!(
            clock.at(Duration::from_secs(6)),
            1_795_731_982_000 + 3_600_000
        );
        assert_eq!(
            clock.at(Duration::from_millis(250)),
            1_795_731_982_000 + 150_000
        );
        let real_speed = Acceleration::new(5_000, 1.0).unwrap();
        assert_eq!(real_speed.at(Duration::from_millis(1_234)), 6_234);
    }

    #[test]
    fn an_accelerated_clock_reads_the_wall_clock_elapsed_since_it_was_made() {
        let clock = Acceleration::new(0, 1_000.0).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let read = clock.at(clock.origin.elapsed());
        assert!((20_000..2_000_000).contains(&read), "{read}");
    }

    #[test]
    fn refuses_speeds_that_are_not_a_speed_up() {
        for bad in [0.0, 0.5, -600.0, f64::NAN, f64::INFINITY, 2.0 * MAX_SPEED] {
            let err = Acceleration::new(0, bad).unwrap_err();
            assert!(matches!(err, ClockError::InvalidSpeed(_)), "{bad}: {err}");
        }
        assert_eq!(
            accelerate(0, 0.0).unwrap_err().to_string(),
            "speed must be a number from 1 to 1000000, got 0"
        );
    }

    #[test]
    fn the_service_clock_is_the_wall_clock_until_accelerated() {
        // No test in this binary accelerates the process clock.
        assert_eq!(speed(), 1.0);
        let (before, now, after) = (wall_ms(), now_ms(), wall_ms());
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn parses_rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-26T22:26:22Z"),
            Some(1_795_731_982_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T22:26:22.5Z"),
            Some(1_795_731_982_500)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T23:26:22.123+01:00"),
            Some(1_795_731_982_123)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T12:00:00-00:30"),
            Some(951_827_400_000)
        );
    }

    #[test]
    fn refuses_malformed_timestamps() {
        for bad in [
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T25:00:00Z",
            "2026-11-26T00:00:00",
            "2026-11-26T00:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
