//! The wall clock, in one place: milliseconds since the Unix epoch. The correlator never reads
//! it (its `now` is passed in); the driver, the lanes, the stores and the reconciler do.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
