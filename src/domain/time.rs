//! Timestamps: milliseconds since the Unix epoch, shown as RFC 3339 in UTC.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time with millisecond precision, stored as milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Self((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-21T09:30:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

impl Timestamp {
    /// An RFC 3339 time with any offset (`2026-12-01T00:00:00Z`, `…+09:00`), else `None`.
    pub fn parse_rfc3339(raw: &str) -> Option<Self> {
        let t = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc_with_milliseconds() {
        assert_eq!(
            Timestamp(1_795_771_800_123).to_rfc3339(),
            "2026-11-27T09:30:00.123Z"
        );
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        let t = Timestamp(1_795_771_800_123);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-27T18:30:00.123+09:00"),
            Some(t)
        );
        assert_eq!(Timestamp::parse_rfc3339("2026-11-27"), None);
        assert_eq!(Timestamp::parse_rfc3339("tomorrow"), None);
    }
}
