//! Dates and times as gapmap writes and reads them: UTC, no time zones, no
//! clock (the caller passes the time in).

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `YYYY-MM-DD` of a time in ms since the epoch, UTC.
pub fn format_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM` of a time in ms since the epoch, UTC.
pub fn format_datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}",
        format_date(ms),
        secs / 3600,
        secs % 3600 / 60
    )
}

/// `HH:MM` of a time in ms since the epoch, UTC.
pub fn format_clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// The start (00:00 UTC, in ms) of a `YYYY-MM-DD` calendar date; `None`
/// when it is not one (wrong shape, month 13, 30 February…).
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let bytes = s.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Round-tripping rejects 2023-02-29 and 2024-04-31.
    (civil_from_days(days) == (y, m, d)).then_some(days * DAY_MS)
}

/// A time given as `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` or
/// `YYYY-MM-DD HH:MM[:SS]` (UTC, an optional trailing `Z`), in ms.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    if s.len() == 10 {
        return parse_date(s);
    }
    let (date, clock) = s.split_once(['T', ' '])?;
    let day = parse_date(date)?;
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut fields = [0i64; 3];
    for (i, part) in parts.iter().enumerate() {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        fields[i] = part.parse().ok()?;
    }
    let [h, m, sec] = fields;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(day + ((h * 60 + m) * 60 + sec) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_datetime(1_795_000_000_000), "2026-11-18 11:06");
        assert_eq!(format_clock(1_795_000_000_000), "11:06");
        assert_eq!(format_date(-1), "1969-12-31");
    }

    #[test]
    fn parses_real_dates_only() {
        assert_eq!(parse_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(
            parse_date("2024-02-29").map(format_date).unwrap(),
            "2024-02-29"
        );
        for bad in [
            "2023-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "24-01-01",
            "2024/01/01",
            "2024-1-01x",
            "tomorrow",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_times() {
        let day = parse_date("2026-11-18").unwrap();
        assert_eq!(parse_time("2026-11-18"), Some(day));
        assert_eq!(parse_time("2026-11-18T11:06"), Some(day + 39_960_000));
        assert_eq!(parse_time("2026-11-18 11:06:30Z"), Some(day + 39_990_000));
        assert_eq!(parse_time("2026-11-18T24:00"), None);
        assert_eq!(parse_time("2026-11-18T1:00"), None);
        assert_eq!(parse_time("r1"), None);
    }
}
