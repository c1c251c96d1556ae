//! AWS event time, in milliseconds since the Unix epoch.
//!
//! AWS writes time in several ways, and all of them reach the queue:
//! - RFC 3339 with 0 to 9 fraction digits (`2022-08-08T05:07:00.61Z`,
//!   `2026-03-05T15:54:41.618059641Z`, `2016-07-07T20:22Z` in approval messages);
//! - the CodeDeploy trigger's Java `Date.toString()` (`Thu Oct 13 15:50:45 UTC 2022`);
//! - epoch seconds as a string, with a fraction (`"1446744188.595"`), in documented triggers;
//! - epoch seconds as a JSON number, in API responses.
//!
//! Cutover keeps milliseconds and always writes RFC 3339 UTC with exactly three fraction
//! digits, so two runs over the same input print the same bytes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A point in AWS time, milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Why a time string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {value:?}: {reason}")]
pub struct TimeError {
    value: String,
    reason: &'static str,
}

const MS_PER_DAY: i64 = 86_400_000;
/// 9999-12-31T23:59:59Z: the last instant RFC 3339 can write.
const MAX_EPOCH_SECS: i64 = 253_402_300_799;
/// 2015-01-01T00:00:00Z.
const EARLIEST: Timestamp = Timestamp(1_420_070_400_000);
/// How far ahead of the wall clock an event time may be.
const MAX_AHEAD_MS: i64 = 15 * 60 * 1000;

impl Timestamp {
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This time plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Build from a civil UTC date and time.
    pub fn from_civil(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32, ms: u32) -> Self {
        let days = days_from_civil(year, month, day);
        Self(
            days * MS_PER_DAY + i64::from(h) * 3_600_000 + i64::from(m) * 60_000 + i64::from(s) * 1_000 + i64::from(ms),
        )
    }

    /// Parse any of the forms AWS uses (see the module docs).
    pub fn parse(value: &str) -> Result<Self, TimeError> {
        let v = value.trim();
        let err = |reason| TimeError { value: value.to_owned(), reason };
        if v.is_empty() {
            return Err(err("empty"));
        }
        let first = v.as_bytes()[0];
        if first.is_ascii_digit() && v.len() >= 10 && v.as_bytes().get(4) == Some(&b'-') {
            return parse_rfc3339(v).ok_or_else(|| err("not RFC 3339"));
        }
        if first == b'-' {
            return Err(err("a negative epoch"));
        }
        if first.is_ascii_digit() {
            return parse_epoch_seconds(v).ok_or_else(|| err("not epoch seconds (or past year 9999)"));
        }
        if first.is_ascii_alphabetic() {
            return parse_java_date(v).ok_or_else(|| err("not a date like 'Thu Oct 13 15:50:45 UTC 2022'"));
        }
        Err(err("unrecognised time format"))
    }

    /// From epoch seconds with a fraction, as the AWS APIs write them in JSON numbers. `None`
    /// for a number that is not a real instant: not finite, negative, or past year 9999.
    pub fn from_epoch_seconds_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs < 0.0 || secs > MAX_EPOCH_SECS as f64 {
            return None;
        }
        Some(Self((secs * 1000.0).round() as i64))
    }

    /// Parses RFC 3339 only, the one form EventBridge writes (`time`, `updatedAt`).
    pub fn parse_rfc3339(value: &str) -> Result<Self, TimeError> {
        parse_rfc3339(value.trim()).ok_or_else(|| TimeError { value: value.to_owned(), reason: "not RFC 3339" })
    }

    /// Whether an event time can be true: not before 2015-01-01 (before ECS, CodeDeploy and
    /// CodePipeline emitted events) and not more than 15 minutes ahead of `wall`, the wall
    /// clock (clocks drift; recorded data lies in the past).
    pub fn plausible(self, wall: Self) -> Result<(), &'static str> {
        if self < EARLIEST {
            Err("before 2015-01-01")
        } else if self > wall.plus_millis(MAX_AHEAD_MS) {
            Err("more than 15 minutes ahead of the clock")
        } else {
            Ok(())
        }
    }

    /// The wall clock, for [`Timestamp::plausible`] (the edge calls it, never the correlator).
    pub fn wall_clock() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self(ms)
    }

    /// Civil date-time parts (year, month, day, hour, minute, second, millisecond).
    fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let days = self.0.div_euclid(MS_PER_DAY);
        let rem = self.0.rem_euclid(MS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        let h = (rem / 3_600_000) as u32;
        let mi = ((rem / 60_000) % 60) as u32;
        let s = ((rem / 1000) % 60) as u32;
        let ms = (rem % 1000) as u32;
        (y, mo, d, h, mi, s, ms)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 UTC with exactly three fraction digits: `2026-03-14T09:33:04.500Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, ms) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$",
            "description": "RFC 3339 UTC with exactly three fraction digits."
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Accepts every string form in the module docs, and JSON numbers as epoch seconds.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time string or epoch seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("invalid time {v}: a negative epoch"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                match i64::try_from(v) {
                    Ok(secs) if secs <= MAX_EPOCH_SECS => Ok(Timestamp(secs * 1000)),
                    _ => Err(E::custom(format!("invalid time {v}: past year 9999"))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch_seconds_f64(v).ok_or_else(|| {
                    E::custom(format!("invalid time {v:e}: not an instant (negative, past year 9999 or not finite)"))
                })
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
}

/// A real calendar date and clock time (`2026-02-30` is not; a leap second is).
fn valid(year: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> bool {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && s <= 60
}

/// `YYYY-MM-DDTHH:MM[:SS[.fff…]](Z|±HH:MM)`.
fn parse_rfc3339(v: &str) -> Option<Timestamp> {
    let b = v.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let mut i = 16;
    let mut second = 0;
    let mut ms = 0;
    if b.get(i) == Some(&b':') {
        second = digits(b.get(i + 1..i + 3)?)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &b[start..i];
            if frac.is_empty() {
                return None;
            }
            for (k, &c) in frac.iter().take(3).enumerate() {
                ms += u32::from(c - b'0') * [100, 10, 1][k];
            }
        }
    }
    if !valid(year, month, day, hour, minute, second) {
        return None;
    }
    let offset_ms: i64 = match &b[i..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), hh1, hh2, b':', mm1, mm2] => {
            let oh = i64::from(digits(&[*hh1, *hh2])?);
            let om = i64::from(digits(&[*mm1, *mm2])?);
            let off = (oh * 60 + om) * 60_000;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let t = Timestamp::from_civil(year, month, day, hour, minute, second.min(59), ms);
    Some(Timestamp(t.0 - offset_ms))
}

/// `1446744188.595` (seconds, optional fraction).
fn parse_epoch_seconds(v: &str) -> Option<Timestamp> {
    // A negative epoch is not a time AWS writes.
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok().filter(|s| *s <= MAX_EPOCH_SECS)?;
    let mut ms: i64 = 0;
    for (k, c) in frac.bytes().take(3).enumerate() {
        ms += i64::from(c - b'0') * [100, 10, 1][k];
    }
    Some(Timestamp(secs * 1000 + ms))
}

/// `Thu Oct 13 15:50:45 UTC 2022` (Java's `Date.toString()`; only UTC/GMT zones).
fn parse_java_date(v: &str) -> Option<Timestamp> {
    let mut parts = v.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let day = digits(parts.next()?.as_bytes())?;
    let clock = parts.next()?.as_bytes();
    if clock.len() != 8 || clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let (h, mi, s) = (digits(&clock[0..2])?, digits(&clock[3..5])?, digits(&clock[6..8])?);
    if !matches!(parts.next()?, "UTC" | "GMT" | "Z") {
        return None;
    }
    let year = i64::from(digits(parts.next()?.as_bytes())?);
    if parts.next().is_some() || !valid(year, month, day, h, mi, s) {
        return None;
    }
    Some(Timestamp::from_civil(year, month, day, h, mi, s.min(59), 0))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        Timestamp::parse(s).unwrap().to_string()
    }

    #[test]
    fn rfc3339_variants_normalise_to_millis() {
        assert_eq!(p("2022-08-08T05:07:00.61Z"), "2022-08-08T05:07:00.610Z");
        assert_eq!(p("2026-03-05T15:54:41.618059641Z"), "2026-03-05T15:54:41.618Z");
        assert_eq!(p("2020-05-23T11:11:11Z"), "2020-05-23T11:11:11.000Z");
        assert_eq!(p("2016-07-07T20:22Z"), "2016-07-07T20:22:00.000Z");
        assert_eq!(p("2024-01-01T01:30:00+01:30"), "2024-01-01T00:00:00.000Z");
        assert_eq!(p("2024-02-29T23:59:59.999-00:00"), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn codedeploy_trigger_forms() {
        assert_eq!(p("Thu Oct 13 15:50:45 UTC 2022"), "2022-10-13T15:50:45.000Z");
        assert_eq!(p("1446744188.595"), "2015-11-05T17:23:08.595Z");
        assert_eq!(p("1446744188"), "2015-11-05T17:23:08.000Z");
    }

    #[test]
    fn rejects_garbage_with_the_value_named() {
        for bad in
            ["", "yesterday", "2022-13-01T00:00:00Z", "2022-01-01T00:00:00", "Thu Oct 13 15:50:45 PST 2022", "12.x"]
        {
            let e = Timestamp::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid time"), "{bad}: {e}");
        }
    }

    #[test]
    fn times_that_are_not_real_instants_are_refused() {
        for bad in [
            "2026-02-30T10:00:00Z",
            "2026-04-31T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "-99999999999",
            "-1",
            "99999999999999",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} was accepted as {:?}", Timestamp::parse(bad));
        }
        assert_eq!(p("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00.000Z", "a leap day is real");
        for bad in ["1e300", "-99999999999", "-1.5", "253402300800"] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad} was accepted");
        }
        assert!(
            Timestamp::parse_rfc3339("Thu Oct 13 15:50:45 UTC 2022").unwrap_err().to_string().contains("not RFC 3339")
        );
    }

    #[test]
    fn plausible_times_lie_between_2015_and_a_quarter_of_an_hour_ahead() {
        let wall = Timestamp::parse("2026-12-01T12:00:00Z").unwrap();
        assert!(Timestamp::parse("2014-12-31T23:59:59Z").unwrap().plausible(wall).is_err());
        assert!(Timestamp::parse("2015-01-01T00:00:00Z").unwrap().plausible(wall).is_ok());
        assert!(Timestamp::parse("2026-12-01T12:15:00Z").unwrap().plausible(wall).is_ok());
        assert!(Timestamp::parse("2026-12-01T12:15:00.001Z").unwrap().plausible(wall).is_err());
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn json_numbers_are_epoch_seconds() {
        let t: Timestamp = serde_json::from_str("1446744188.595").unwrap();
        assert_eq!(t.to_string(), "2015-11-05T17:23:08.595Z");
        let t: Timestamp = serde_json::from_str("1446744188").unwrap();
        assert_eq!(t.millis(), 1_446_744_188_000);
    }
}
