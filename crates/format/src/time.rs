//! The one time type: [`Timestamp`], nanoseconds since the Unix epoch, written as records
//! write times (RFC 3339 in UTC with nine fractional digits, e.g.
//! `2026-11-20T03:10:12.000000000Z`).
//!
//! Records keep their times as the strings they were written with, so that a record's bytes,
//! and so its hash, never depend on a round trip through this type; code that compares or
//! computes with times converts at its edge with [`Timestamp::parse`] and
//! [`Timestamp::to_rfc3339`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The last instant RFC 3339 can write (9999-12-31T23:59:59.999999999Z), in nanoseconds.
const LAST_WRITABLE: i128 = 253_402_300_800 * NANOS_PER_SEC - 1;

/// An instant, in nanoseconds since 1970-01-01T00:00:00Z (negative before it). Ordered by
/// time; serialized as its RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i128);

/// A string that is not an RFC 3339 UTC time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 UTC time: {0:?}")]
pub struct TimeError(pub String);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Later than any time a clock gives: what an unreadable time counts as where a late time
    /// is the cautious reading.
    pub const LATEST: Timestamp = Timestamp(i128::MAX);

    /// The wall clock now.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_unix_nanos(nanos: i128) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> i128 {
        self.0
    }

    /// Whole seconds since the epoch, 0 for times before it (as segment members' `mtime`).
    pub fn unix_secs(self) -> u64 {
        // Clamped into the range of a u64, so the conversion is exact.
        self.0
            .div_euclid(NANOS_PER_SEC)
            .clamp(0, i128::from(u64::MAX)) as u64
    }

    /// The last modification time of a file, to the nanosecond (`st_mtime`, `st_mtime_nsec`).
    pub fn modified(meta: &std::fs::Metadata) -> Timestamp {
        use std::os::unix::fs::MetadataExt;
        Timestamp(i128::from(meta.mtime()) * NANOS_PER_SEC + i128::from(meta.mtime_nsec()))
    }

    /// This instant moved by `nanos` nanoseconds (saturating).
    pub const fn plus_nanos(self, nanos: i128) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// The instant as a `SystemTime`. One no `SystemTime` holds (far outside the years RFC 3339
    /// writes) becomes the epoch, or the last second of year 9999.
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = self.0.unsigned_abs();
        let secs = u64::try_from(magnitude / NANOS_PER_SEC as u128).unwrap_or(u64::MAX);
        // The remainder of a division by 10^9 fits a u32.
        let nanos = (magnitude % NANOS_PER_SEC as u128) as u32;
        let d = Duration::new(secs, nanos);
        let t = if self.0 < 0 {
            UNIX_EPOCH.checked_sub(d)
        } else {
            UNIX_EPOCH.checked_add(d)
        };
        t.unwrap_or(if self.0 < 0 {
            UNIX_EPOCH
        } else {
            UNIX_EPOCH + Duration::from_secs(253_402_300_799)
        })
    }

    /// The RFC 3339 string records carry: UTC, nine fractional digits, `Z`. Times outside the
    /// years 1970 to 9999 are written as the nearest end of that range (RFC 3339 cannot write
    /// later years, and records never hold earlier ones).
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }

    /// Read an RFC 3339 UTC time as records write it (any number of fractional digits, `Z`).
    pub fn parse(s: &str) -> Result<Timestamp, TimeError> {
        humantime::parse_rfc3339(s)
            .map(Timestamp::from)
            .map_err(|_| TimeError(s.to_owned()))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(d.as_nanos() as i128),
            Err(e) => Timestamp(-(e.duration().as_nanos() as i128)),
        }
    }
}

/// Writes [`Timestamp::to_rfc3339`]'s form without allocating, so that a hot path (the syslog
/// write-ahead log's record headers) can write times straight into its buffer.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clamped = Timestamp(self.0.clamp(0, LAST_WRITABLE));
        fmt::Display::fmt(
            &humantime::format_rfc3339_nanos(clamped.to_system_time()),
            f,
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Timestamp, TimeError> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time every record of the golden files carries.
    const GOLDEN: &str = "2026-11-20T03:10:12.000000000Z";

    #[test]
    fn golden_strings_round_trip_exactly() {
        let t = Timestamp::parse(GOLDEN).unwrap();
        assert_eq!(t.unix_nanos(), 1_795_144_212 * NANOS_PER_SEC);
        assert_eq!(t.to_rfc3339(), GOLDEN);
        assert_eq!(t.to_string(), GOLDEN);
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{GOLDEN}\""));
        let back: Timestamp = serde_json::from_str(&format!("\"{GOLDEN}\"")).unwrap();
        assert_eq!(back, t);
        // Every time field of the golden records and events reads back to its exact string.
        fn times(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        match x.as_str() {
                            Some(t)
                                if ["wall", "first", "last", "requested", "read_at"]
                                    .contains(&k.as_str()) =>
                            {
                                out.push(t.to_owned())
                            }
                            _ => times(x, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| times(x, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        for golden in [
            include_str!("../tests/golden/records-v1.jsonl"),
            include_str!("../tests/golden/events-v1.jsonl"),
        ] {
            for line in golden.lines() {
                times(&serde_json::from_str(line).unwrap(), &mut found);
            }
        }
        let manifest = include_str!("../tests/golden/segment-v1.manifest.json");
        times(&serde_json::from_str(manifest).unwrap(), &mut found);
        let mut seen = 0;
        for t in &found {
            assert_eq!(&Timestamp::parse(t).unwrap().to_rfc3339(), t);
            seen += 1;
        }
        assert!(seen > 10, "{seen} times found");
    }

    #[test]
    fn writes_what_the_wall_clock_wrote() {
        let t = UNIX_EPOCH + Duration::new(1_790_000_000, 5);
        assert_eq!(
            Timestamp::from(t).to_rfc3339(),
            "2026-09-21T14:13:20.000000005Z"
        );
        assert_eq!(
            Timestamp::from(t).to_rfc3339(),
            humantime::format_rfc3339_nanos(t).to_string()
        );
        assert_eq!(Timestamp::from(t).to_system_time(), t);
        assert_eq!(Timestamp::from(t).unix_secs(), 1_790_000_000);
    }

    #[test]
    fn orders_by_time_and_refuses_what_is_not_a_time() {
        let a = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse("2026-01-01T00:00:00.000000001Z").unwrap();
        assert!(a < b && b < Timestamp::LATEST);
        assert_eq!(a.plus_nanos(1), b);
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"2026-13-01T00:00:00Z\"").is_err());
    }

    #[test]
    fn times_outside_rfc3339_are_written_without_panicking() {
        assert_eq!(
            Timestamp::LATEST.to_rfc3339(),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-5).to_rfc3339(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(Timestamp::from_unix_nanos(-5).unix_secs(), 0);
    }

    #[test]
    fn file_mtime_is_read_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            Timestamp::modified(&meta),
            Timestamp::from(meta.modified().unwrap())
        );
    }
}
