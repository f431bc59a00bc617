//! Plain formatting for people: byte sizes and UTC clock times. Pure functions, used
//! on the server and in the browser alike so that both render the same text.

/// A share (0 to 1) as percent with at most `decimals` decimals, trailing zeros
/// left out: `0.042` -> `4.2%`, `0.0105` -> `1.05%`, `0.01` -> `1%`.
pub fn percent(share: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, share * 100.0);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}%")
}

/// `1536` -> `1.5 KiB`; binary units, one decimal below 10.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// An age in milliseconds -> `just now`, `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`.
pub fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0 => "just now".into(),
        1..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A span in milliseconds -> `42 s`, `3 min`, `2 h 5 min`, `4 d`.
pub fn duration_words(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d", s / 86_400),
    }
}

/// Millicores -> `0.5` CPUs, `2` CPUs.
pub fn cpus(millis: i64) -> String {
    if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{:.2}", millis as f64 / 1000.0)
            .trim_end_matches('0')
            .to_string()
    }
}

/// Milliseconds since the Unix epoch -> `2026-11-25 12:00:01 UTC`.
pub fn utc_datetime(ms: i64) -> String {
    let (date, time) = split(ms);
    format!("{date} {time} UTC")
}

/// Milliseconds since the Unix epoch -> `12:00:01`.
pub fn utc_time(ms: i64) -> String {
    split(ms).1
}

fn split(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
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

    #[test]
    fn bytes_are_binary_units() {
        for (n, want) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (10 * 1024 * 1024, "10 MiB"),
            (25_147_219_968, "23 GiB"),
        ] {
            assert_eq!(bytes(n), want, "bytes({n})");
        }
    }

    #[test]
    fn ages_and_cpus() {
        for (ms, want) in [
            (0, "just now"),
            (999, "just now"),
            (5_000, "5 s ago"),
            (180_000, "3 min ago"),
            (7_200_000, "2 h ago"),
            (4 * 86_400_000, "4 d ago"),
            (-5, "just now"),
        ] {
            assert_eq!(ago(ms), want, "{ms}");
        }
        for (m, want) in [(0, "0"), (2000, "2"), (500, "0.5"), (1250, "1.25")] {
            assert_eq!(cpus(m), want, "{m}");
        }
    }

    #[test]
    fn utc_times() {
        for (ms, want) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (951_782_400_000, "2000-02-29 00:00:00 UTC"),
            (1_795_608_001_500, "2026-11-25 12:00:01 UTC"),
            (-1_000, "1969-12-31 23:59:59 UTC"),
        ] {
            assert_eq!(utc_datetime(ms), want, "utc_datetime({ms})");
        }
        assert_eq!(utc_time(1_795_608_001_500), "12:00:01");
    }
}
