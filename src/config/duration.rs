//! Go-style durations (`168h`, `1h30m`, `1.5s`, `300ms`), as oauth2-proxy's configuration uses them.

use std::time::Duration;

/// Parses a duration the way Go's `time.ParseDuration` does, refusing negative values
/// (no Gatehouse option means anything by a negative duration).
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("an empty string is not a duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    let mut rest = body;
    let mut total = 0f64; // nanoseconds
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{s}` is missing a unit (use ns, us, ms, s, m or h)"))?;
        if number_len == 0 {
            return Err(format!("`{s}` is not a duration (expected a number before the unit)"));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| format!("`{s}` has a malformed number"))?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!("`{s}` has an unknown unit `{other}` (use ns, us, ms, s, m or h)"));
            }
        };
        total += number * scale;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration the way Go prints it (`168h0m0s`, `15m0s`, `1.5s`, `0s`), so messages quote
/// values in the form users wrote them.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let total_ns = d.as_nanos();
    if total_ns < 1_000_000_000 {
        return if total_ns.is_multiple_of(1_000_000) {
            format!("{}ms", total_ns / 1_000_000)
        } else if total_ns.is_multiple_of(1_000) {
            format!("{}µs", total_ns / 1_000)
        } else {
            format!("{total_ns}ns")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_nanos();
    let seconds = if frac == 0 {
        format!("{s}s")
    } else {
        let digits = format!("{frac:09}");
        format!("{s}.{}s", digits.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        let cases = [
            ("168h", 168 * 3600 * 1000),
            ("15m", 15 * 60 * 1000),
            ("1s", 1000),
            ("1h30m", 90 * 60 * 1000),
            ("1.5s", 1500),
            ("300ms", 300),
            ("0", 0),
            ("0s", 0),
            ("+2m", 120_000),
        ];
        for (input, millis) in cases {
            assert_eq!(parse(input).unwrap(), Duration::from_millis(millis), "{input}");
        }
        assert_eq!(parse("10us").unwrap(), Duration::from_micros(10));
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["", "h", "10", "10x", "-1s", "1..5s", "abc", "1h-5m"] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::from_secs(168 * 3600)), "168h0m0s");
        assert_eq!(format(Duration::from_secs(900)), "15m0s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(300)), "300ms");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
