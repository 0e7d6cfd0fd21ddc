//! Durations as written in config: an integer and a unit (`100ms`, `30s`, `15m`, `1h`, `7d`, `2w`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time in milliseconds, written in config as `<integer><unit>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: expected a whole number followed by ms, s, m, h, d or w, with no spaces (e.g. \"30s\", \"24h\", \"7d\")")]
pub struct DurationError {
    pub input: String,
}

const UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

impl Duration {
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000)
    }
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// A measured span for people: its two largest units, rounded down (`3h 12m`, `2d 4h`,
    /// `45s`, `850ms`). `Display` instead prints the exact value in one unit, as config is written.
    pub fn elapsed(self) -> String {
        let mut parts = Vec::with_capacity(2);
        let mut rest = self.0;
        for (unit, factor) in UNITS.iter().rev() {
            let n = rest / factor;
            rest %= factor;
            if n > 0 {
                parts.push(format!("{n}{unit}"));
            } else if !parts.is_empty() {
                // A zero after the first unit ends the span: `2h`, not `2h 0m`.
                break;
            }
            if parts.len() == 2 {
                break;
            }
        }
        if parts.is_empty() {
            "0ms".to_string()
        } else {
            parts.join(" ")
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationError {
            input: s.to_string(),
        };
        // Written exactly as documented: no spaces anywhere, so "5 s" is not read as "5s".
        let t = s;
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = t.split_at(split);
        if digits.is_empty() {
            return Err(err());
        }
        let n: u64 = digits.parse().map_err(|_| err())?;
        let (_, factor) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(err)?;
        n.checked_mul(*factor).map(Duration).ok_or_else(err)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The largest unit that divides evenly, so a value prints as it was probably written.
        for (unit, factor) in UNITS.iter().rev() {
            if self.0 != 0 && self.0.checked_rem(*factor) == Some(0) {
                return write!(f, "{}{}", self.0 / factor, unit);
            }
        }
        write!(f, "{}ms", self.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn elapsed_spans_read_in_their_two_largest_units() {
        let d = super::Duration::from_millis;
        assert_eq!(d(11_554_055).elapsed(), "3h 12m");
        assert_eq!(d(7_200_000).elapsed(), "2h");
        assert_eq!(d(7_205_000).elapsed(), "2h");
        assert_eq!(d(187_200_000).elapsed(), "2d 4h");
        assert_eq!(d(45_300).elapsed(), "45s 300ms");
        assert_eq!(d(850).elapsed(), "850ms");
        assert_eq!(d(0).elapsed(), "0ms");
        assert_eq!(d(1_209_600_000).elapsed(), "2w");
    }

    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!("100ms".parse::<Duration>().unwrap().as_millis(), 100);
        assert_eq!("30s".parse::<Duration>().unwrap().as_millis(), 30_000);
        assert_eq!("15m".parse::<Duration>().unwrap().as_millis(), 900_000);
        assert_eq!("1h".parse::<Duration>().unwrap().as_millis(), 3_600_000);
        assert_eq!("7d".parse::<Duration>().unwrap().as_millis(), 604_800_000);
        assert_eq!("2w".parse::<Duration>().unwrap().as_millis(), 1_209_600_000);
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "h",
            "1",
            "1.5h",
            "-1h",
            "1y",
            "ten minutes",
            "99999999999999999999d",
            "5 s",
            " 5s",
            "5s ",
            "5\ts",
        ] {
            assert!(
                bad.parse::<Duration>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn displays_in_largest_exact_unit() {
        assert_eq!(Duration::from_millis(86_400_000).to_string(), "1d");
        assert_eq!(Duration::from_millis(90_000).to_string(), "90s");
        assert_eq!(Duration::from_millis(0).to_string(), "0ms");
    }
}
