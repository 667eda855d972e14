//! Timestamps as the Networking API writes them: UTC, whole seconds, literal `Z`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// Now, formatted `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now() -> String {
    format(Utc::now())
}

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[Z]` (the `changed_since` filter).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let trimmed = s.strip_suffix('Z').unwrap_or(s);
    NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_with_z() {
        let t = parse("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(format(t), "2026-01-02T03:04:05Z");
        assert!(parse("yesterday").is_none());
    }
}
