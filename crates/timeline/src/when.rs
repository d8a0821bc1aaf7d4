//! Times as log lines write them, turned into UTC instants: RFC 3339 and ISO 8601 with or
//! without a zone, BSD syslog's year-less `Mmm dd HH:MM:SS`, `ctime` (OpenVPN), and the
//! compact forms of xrdp and the vendors. A local time is read in the zone the caller assumes
//! and says so; a year-less one takes its year from the capture time.

use crate::event::Clock;
use logkeep_format::Timestamp;
use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// What a reader knows besides the line: when logkeep captured it and which zone local times
/// are in.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The capture time of the segment holding the line.
    pub captured: Timestamp,
    /// Seconds east of UTC assumed for times that state no zone.
    pub assumed_offset: i32,
}

/// A calendar time as a line writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year, if the line has one.
    pub year: Option<i32>,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
    /// Hour.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Nanoseconds.
    pub nanos: u32,
    /// Seconds east of UTC, if the line states a zone.
    pub offset: Option<i32>,
}

impl Civil {
    /// The instant, and how it was found. `None` for an impossible date.
    pub fn resolve(&self, cx: &Context) -> Option<(Timestamp, Clock)> {
        let (cap_year, cap_month) = year_month(cx.captured);
        let (year, year_guessed) = match self.year {
            Some(y) => (y, false),
            // A line from December captured in January is from the year before.
            None if i32::from(self.month) > i32::from(cap_month) + 1 => (cap_year - 1, true),
            None => (cap_year, true),
        };
        let date =
            Date::from_calendar_date(year, Month::try_from(self.month).ok()?, self.day).ok()?;
        let t = Time::from_hms_nano(self.hour, self.minute, self.second, self.nanos).ok()?;
        let (off, clock) = match self.offset {
            Some(o) => (o, Clock::Stated),
            None if year_guessed => (cx.assumed_offset, Clock::AssumedYear(cx.assumed_offset)),
            None => (cx.assumed_offset, Clock::Assumed(cx.assumed_offset)),
        };
        let at = PrimitiveDateTime::new(date, t)
            .assume_offset(UtcOffset::from_whole_seconds(off).ok()?)
            .unix_timestamp_nanos();
        Some((Timestamp::from_unix_nanos(at), clock))
    }
}

fn year_month(t: Timestamp) -> (i32, u8) {
    let secs = i64::try_from(t.unix_nanos() / 1_000_000_000).unwrap_or(0);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => (d.year(), d.month() as u8),
        Err(_) => (1970, 1),
    }
}

/// The month number of an English three-letter abbreviation.
pub fn month(s: &str) -> Option<u8> {
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    M.iter().position(|m| *m == s).map(|i| i as u8 + 1)
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HH:MM:SS[.frac]`.
fn hms(s: &str) -> Option<(u8, u8, u8, u32)> {
    let (main, frac) = match s.split_once(['.', ',']) {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    let mut it = main.split(':');
    let h = num(it.next()?)?;
    let m = num(it.next()?)?;
    let sec = num(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    let nanos = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 => num::<u32>(f)? * 10u32.pow(9 - f.len() as u32),
        Some(_) => return None,
        None => 0,
    };
    Some((h, m, sec, nanos))
}

/// `Z`, `+09:00`, `+0900`, `-05`.
pub fn zone(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (num::<i32>(&digits)?, 0),
        4 => (num::<i32>(&digits[..2])?, num::<i32>(&digits[2..])?),
        _ => return None,
    };
    Some(sign * (h * 3600 + m * 60))
}

/// `YYYY-MM-DD` then `T` or a space (`sep`), then `HH:MM:SS[.frac][zone]`: the ISO 8601 forms
/// of RFC 5424, rsyslog's high-precision format, NXLog and Winlogbeat. `date` and `time` are
/// given apart (a space-separated form) or `time` is `None` (one token with `T`).
pub fn iso(date: &str, time: Option<&str>) -> Option<Civil> {
    let (d, t) = match time {
        Some(t) => (date, t),
        None => date.split_once(['T', 't'])?,
    };
    let mut it = d.split('-');
    let year = num(it.next()?)?;
    let month = num(it.next()?)?;
    let day = num(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    // The zone starts at the first `Z`, `+` or `-` after the time.
    let split = t.find(['Z', 'z', '+', '-']).unwrap_or(t.len());
    let (clock, z) = t.split_at(split);
    let (hour, minute, second, nanos) = hms(clock)?;
    let offset = if z.is_empty() { None } else { Some(zone(z)?) };
    Some(Civil {
        year: Some(year),
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset,
    })
}

/// BSD syslog's `Mmm dd HH:MM:SS` (day space-padded): returns the time and the rest of the
/// line after it and one space.
pub fn bsd(line: &str) -> Option<(Civil, &str)> {
    let b = line.as_bytes();
    if b.len() < 16 || b[3] != b' ' || b[6] != b' ' || b[15] != b' ' {
        return None;
    }
    let month = month(line.get(0..3)?)?;
    let day = num(line.get(4..6)?.trim_start())?;
    let (hour, minute, second, nanos) = hms(line.get(7..15)?)?;
    Some((
        Civil {
            year: None,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset: None,
        },
        &line[16..],
    ))
}

/// `ctime`'s `Www Mmm dd HH:MM:SS YYYY` (OpenVPN's log files): the time and the rest.
pub fn ctime(line: &str) -> Option<(Civil, &str)> {
    let (_, rest) = line.split_once(' ')?;
    if line.len() < 4 || !line.as_bytes()[..3].iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let (mut c, rest) = bsd(rest)?;
    let (year, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    c.year = Some(num(year)?);
    Some((c, rest))
}

/// `YYYYMMDD-HH:MM:SS` (xrdp's log files).
pub fn compact(s: &str) -> Option<Civil> {
    let (d, t) = s.split_once('-')?;
    if d.len() != 8 {
        return None;
    }
    let (hour, minute, second, nanos) = hms(t)?;
    Some(Civil {
        year: Some(num(&d[..4])?),
        month: num(&d[4..6])?,
        day: num(&d[6..8])?,
        hour,
        minute,
        second,
        nanos,
        offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(captured: &str) -> Context {
        Context {
            captured: Timestamp::parse(captured).unwrap(),
            assumed_offset: 0,
        }
    }

    #[test]
    fn year_less_times_take_the_capture_year() {
        let (c, rest) = bsd("Nov 20 03:10:12 gw sshd[1]: x").unwrap();
        assert_eq!(rest, "gw sshd[1]: x");
        let (t, clock) = c.resolve(&cx("2026-11-20T03:10:13Z")).unwrap();
        assert_eq!(t, Timestamp::parse("2026-11-20T03:10:12Z").unwrap());
        assert_eq!(clock, Clock::AssumedYear(0));
        // December's lines captured in January belong to the year before.
        let (c, _) = bsd("Dec 31 23:59:59 gw x: y").unwrap();
        let (t, _) = c.resolve(&cx("2027-01-01T00:00:05Z")).unwrap();
        assert_eq!(t, Timestamp::parse("2026-12-31T23:59:59Z").unwrap());
    }

    #[test]
    fn zones_are_applied_or_assumed() {
        let c = iso("2026-11-20T12:10:12.5+09:00", None).unwrap();
        let (t, clock) = c.resolve(&cx("2026-11-20T03:10:13Z")).unwrap();
        assert_eq!(t, Timestamp::parse("2026-11-20T03:10:12.5Z").unwrap());
        assert_eq!(clock, Clock::Stated);
        let c = iso("2026-11-20", Some("12:10:12")).unwrap();
        let mut k = cx("2026-11-20T03:10:13Z");
        k.assumed_offset = 9 * 3600;
        let (t, clock) = c.resolve(&k).unwrap();
        assert_eq!(t, Timestamp::parse("2026-11-20T03:10:12Z").unwrap());
        assert_eq!(clock, Clock::Assumed(32400));
        assert!(Clock::Assumed(32400).describe().contains("UTC+09:00"));
        assert!(
            iso("2026-13-01T00:00:00Z", None)
                .unwrap()
                .resolve(&k)
                .is_none()
        );
        assert!(iso("x-y-z", Some("1:2:3")).is_none());
    }

    #[test]
    fn ctime_and_compact() {
        let (c, rest) = ctime("Fri Nov 20 03:10:12 2026 1.2.3.4:5 x").unwrap();
        assert_eq!((c.year, c.month, c.day, c.second), (Some(2026), 11, 20, 12));
        assert_eq!(rest, "1.2.3.4:5 x");
        let c = compact("20261120-03:10:12").unwrap();
        assert_eq!((c.year, c.hour), (Some(2026), 3));
    }
}
