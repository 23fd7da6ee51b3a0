//! Parsing and printing durations and bucket labels the way people write them.

use std::time::Duration;

/// Parses `500ms`, `5s`, `2m`, `1h`, `10us`/`10µs`, `100ns`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; write e.g. 30s, 500ms, 2m"))?;
    let nanos_per_unit = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}'; use ns, us, ms, s, m or h"
            ));
        }
    };
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(format!("'{text}' is too long"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// A signal for `--signal`: `SIGKILL`, `KILL`, `kill` or `9`.
pub fn parse_signal(text: &str) -> Result<u8, String> {
    tracer_protocol::names::signal_number(text)
        .ok_or_else(|| format!("`{text}` is no signal: give a name (SIGKILL, TERM) or 1 to 64"))
}

/// A nanosecond count with a readable unit: `812ns`, `1.2µs`, `34ms`, `2.5s`.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}{unit}")
    } else if value >= 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.2}{unit}")
    }
}

/// A value in a unit, readable: durations for `ns`, plain numbers otherwise.
pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "ns" => format_ns(value),
        _ => format!("{value:.0}"),
    }
}

/// A power of two as bpftrace labels it: `512`, `1K`, `2M`, `4G`.
pub fn power_label(value: u64) -> String {
    const SUFFIXES: [(u32, &str); 6] = [
        (60, "E"),
        (50, "P"),
        (40, "T"),
        (30, "G"),
        (20, "M"),
        (10, "K"),
    ];
    for (shift, suffix) in SUFFIXES {
        if value >= 1 << shift && value.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", value >> shift);
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(
            parse_duration("5 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("1e30h").is_err());
    }

    #[test]
    fn formats_nanoseconds() {
        assert_eq!(format_ns(812.0), "812ns");
        assert_eq!(format_ns(1234.0), "1.23µs");
        assert_eq!(format_ns(34_000_000.0), "34ms");
        assert_eq!(format_ns(2_500_000_000.0), "2.50s");
    }

    #[test]
    fn labels_powers_like_bpftrace() {
        assert_eq!(power_label(512), "512");
        assert_eq!(power_label(1024), "1K");
        assert_eq!(power_label(2048), "2K");
        assert_eq!(power_label(1 << 20), "1M");
        assert_eq!(power_label(1 << 62), "4E");
        assert_eq!(power_label(0), "0");
    }
}
