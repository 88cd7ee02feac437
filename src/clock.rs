//! Time as the data rules define it: unix milliseconds (UTC) in storage, RFC 3339 in the API.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Formats unix milliseconds as an RFC 3339 UTC timestamp with exactly three fraction
/// digits, so timestamps have one length and sort as strings.
pub fn to_rfc3339(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parses a query bound: `YYYY-MM-DD` (a UTC day; as an upper bound it means the end of that
/// day) or an RFC 3339 timestamp. Returns unix milliseconds.
pub fn parse_bound(s: &str, upper: bool) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let date = time::Date::parse(s, format_description!("[year]-[month]-[day]")).ok()?;
    let day = if upper { date.next_day()? } else { date };
    Some(day.midnight().assume_utc().unix_timestamp() * 1000)
}

/// Serde helpers so API structs hold `i64` millis and serialize RFC 3339 strings.
pub mod serde_rfc3339 {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_rfc3339(*ms))
    }

    /// For `Option<i64>` fields.
    pub mod option {
        use serde::Serializer;

        pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => s.serialize_str(&super::super::to_rfc3339(*ms)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_millis_as_rfc3339() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(to_rfc3339(1_700_000_000_500), "2023-11-14T22:13:20.500Z");
        assert!(now_ms() > 1_700_000_000_000);
        assert_eq!(parse_bound("2026-11-30", false), Some(1_795_996_800_000));
        assert_eq!(parse_bound("2026-11-30", true), Some(1_796_083_200_000));
        assert_eq!(
            parse_bound("2026-11-30T01:00:00Z", false),
            Some(1_796_000_400_000)
        );
        assert_eq!(parse_bound("30/11/2026", false), None);
    }
}
