//! The two date forms a signed request carries, without a date library:
//! ISO 8601 basic (`20240101T000000Z`, X-Amz-Date) and HTTP-date
//! (`Mon, 09 Sep 2011 23:36:00 GMT`; botocore writes `-0000` for the zone
//! when it signs with a `Date` header).

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

fn unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'`, exactly.
pub(crate) fn parse_iso_basic(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    unix(
        i64::from(digits(&b[0..4])?),
        digits(&b[4..6])?,
        digits(&b[6..8])?,
        digits(&b[9..11])?,
        digits(&b[11..13])?,
        digits(&b[13..15])?,
    )
}

/// `[Day, ]DD Mon YYYY HH:MM:SS ZONE` with ZONE `GMT`, `UT`, `UTC`, `Z` or
/// `±HHMM` (RFC 5322 / RFC 9110 IMF-fixdate).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let mut words: Vec<&str> = s.split_ascii_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(',')) {
        words.remove(0);
    }
    let [day, mon, year, hms, zone] = words.as_slice() else {
        return None;
    };
    let d = digits(day.as_bytes()).filter(|_| day.len() <= 2)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y = digits(year.as_bytes()).filter(|_| year.len() == 4)?;
    let t = hms.as_bytes();
    if t.len() != 8 || t[2] != b':' || t[5] != b':' {
        return None;
    }
    let base = unix(
        i64::from(y),
        mo,
        d,
        digits(&t[0..2])?,
        digits(&t[3..5])?,
        digits(&t[6..8])?,
    )?;
    let offset = match *zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z => {
            let zb = z.as_bytes();
            if zb.len() != 5 {
                return None;
            }
            let sign = match zb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (zh, zm) = (digits(&zb[1..3])?, digits(&zb[3..5])?);
            if zh > 23 || zm > 59 {
                return None;
            }
            sign * i64::from(zh * 3600 + zm * 60)
        }
    };
    Some(base - offset)
}

/// ISO 8601 basic form of a Unix time. Years past 9999 print with more
/// digits (only error messages can meet them).
pub(crate) fn format_iso_basic(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The last second with a four-digit year: 9999-12-31T23:59:59Z.
pub(crate) const MAX_SIGNABLE_UNIX: u64 = 253_402_300_799;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_basic_round_trips() {
        for t in [
            0,
            1_440_938_160,
            1_710_506_096,
            951_782_400,
            MAX_SIGNABLE_UNIX as i64,
        ] {
            assert_eq!(parse_iso_basic(&format_iso_basic(t)), Some(t), "{t}");
        }
        assert_eq!(parse_iso_basic("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_iso_basic(-1), "19691231T235959Z");
    }

    #[test]
    fn iso_basic_is_strict() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150231T123600Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T1236000Z",
        ] {
            assert_eq!(parse_iso_basic(bad), None, "{bad:?}");
        }
        assert!(parse_iso_basic("20240229T000000Z").is_some());
        assert!(parse_iso_basic("20230229T000000Z").is_none());
    }

    #[test]
    fn http_dates() {
        let want = Some(1_315_611_360); // 2011-09-09T23:36:00Z
        assert_eq!(parse_http_date("Mon, 09 Sep 2011 23:36:00 GMT"), want);
        assert_eq!(parse_http_date("Mon, 09 Sep 2011 23:36:00 -0000"), want);
        assert_eq!(parse_http_date("9 Sep 2011 23:36:00 UT"), want);
        assert_eq!(parse_http_date("Tue, 10 Sep 2011 01:36:00 +0200"), want);
        assert_eq!(parse_http_date("Mon, 09 Sep 2011 23:36 GMT"), None);
        assert_eq!(parse_http_date("Mon, 09 Foo 2011 23:36:00 GMT"), None);
        assert_eq!(parse_http_date("Mon, 09 Sep 2011 23:36:00 CEST"), None);
        assert_eq!(parse_http_date(""), None);
    }
}
