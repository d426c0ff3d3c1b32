//! The wall clock, in the unit Kafka's timestamps use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: 0 for a clock set before 1970, saturated rather than
/// wrapped for one past the `i64` range.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_milliseconds_since_the_epoch() {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ms = now_ms();
        // 2020-01-01T00:00:00Z, in milliseconds: the unit is not seconds or microseconds.
        assert!(ms > 1_577_836_800_000);
        assert!((ms / 1000).abs_diff(i64::try_from(seconds).unwrap_or(0)) <= 1);
    }
}
