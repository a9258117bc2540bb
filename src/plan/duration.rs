//! Durations as plans write them: `500ms`, `30s`, `10m`, `24h`, `7d`, and combinations such as `1h30m`.
//!
//! Rules (chosen so a duration reads one way only):
//! - every number carries a unit: `10` is refused (seconds? minutes?);
//! - whole numbers only: `1.5h` is refused with a hint to write `1h30m`;
//! - units from largest to smallest, each at most once: `1h30m`, not `30m1h` or `1h1h`;
//! - no sign and no spaces; `0s` is a valid (zero) duration, fields that need a positive one say so.

use std::time::Duration;

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `30s`, `10m`, `24h`, `1h30m`, `7d`, `500ms`. The error says what to write instead.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("a duration is empty; write one like 30s, 10m or 24h".into());
    }
    if s.starts_with('-') {
        return Err(format!(
            "{s:?} is negative; durations are 0 or more, like 30s"
        ));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: u64 = 0;
    let mut last_unit: Option<usize> = None;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(bad(s));
        }
        let digits = &s[start..i];
        if bytes.get(i) == Some(&b'.') {
            return Err(format!(
                "{s:?} has a fraction; use whole numbers of smaller units, like 1h30m or 1500ms"
            ));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if unit.is_empty() {
            return Err(if i == bytes.len() && start == 0 {
                format!("{s:?} has no unit; write {s}s, {s}m or {s}h")
            } else {
                bad(s)
            });
        }
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "{s:?} has an unknown unit {unit:?}; use ms, s, m, h or d"
            ));
        };
        if last_unit.is_some_and(|prev| prev >= rank) {
            return Err(format!(
                "{s:?}: write units from largest to smallest, each once (like 1h30m)"
            ));
        }
        last_unit = Some(rank);
        let n: u64 = digits.parse().map_err(|_| too_long(s))?;
        let ms = n.checked_mul(UNITS[rank].1).ok_or_else(|| too_long(s))?;
        total_ms = total_ms.checked_add(ms).ok_or_else(|| too_long(s))?;
    }
    Ok(Duration::from_millis(total_ms))
}

fn bad(s: &str) -> String {
    format!("{s:?} is not a duration; write one like 30s, 10m, 24h or 1h30m")
}

fn too_long(s: &str) -> String {
    format!("{s:?} is too long a duration")
}

/// The shortest form `parse_duration` reads back to the same value (to the millisecond):
/// `1h30m`, `24h` → `1d`, `0s`, `1s500ms`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let n = ms / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms -= n * size;
        }
    }
    out
}

/// A measured time for people, to a tenth of a second under a minute (`12.3s`), else to the
/// second (`4m05s`, `1h02m07s`). Plan durations use [`format_duration`].
pub fn format_elapsed(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 { format!("{h}h{m:02}m{s:02}s") } else { format!("{m}m{s:02}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_times_read_to_a_tenth_then_to_the_second() {
        assert_eq!(format_elapsed(12.34), "12.3s");
        assert_eq!(format_elapsed(245.4), "4m05s");
        assert_eq!(format_elapsed(3727.0), "1h02m07s");
        assert_eq!(format_elapsed(f64::NAN), "-");
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_ambiguous_forms_with_a_hint() {
        assert!(
            parse_duration("10")
                .unwrap_err()
                .contains("no unit; write 10s, 10m or 10h")
        );
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("1.5h").unwrap_err().contains("1h30m"));
        assert!(
            parse_duration("30m1h")
                .unwrap_err()
                .contains("largest to smallest")
        );
        assert!(
            parse_duration("1h1h")
                .unwrap_err()
                .contains("largest to smallest")
        );
        assert!(parse_duration("5 m").is_err());
        assert!(
            parse_duration("5min")
                .unwrap_err()
                .contains("unknown unit \"min\"")
        );
        assert!(parse_duration("").is_err());
        assert!(
            parse_duration("99999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
