//! HTTP dates (RFC 9110 §5.6.7) as unix seconds: IMF-fixdate, and the obsolete RFC 850 and
//! asctime forms recipients must still accept. The dates the `httpdate` crate reads (the tests
//! compare the two), in a fraction of its wasm size: the browser build reads `Date` headers.

const MONTHS: &[u8] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
const DAYS: &[u8] = b"MonTueWedThuFriSatSun";
const WEEKDAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];

/// Seconds since the epoch of an HTTP date, or `None` for anything else: another shape, a day
/// the month does not have, a weekday that is not the date's, a year before 1970 or after 9999.
pub fn parse(date: &str) -> Option<u64> {
    if !date.is_ascii() {
        return None;
    }
    let s = date.trim().as_bytes();
    // The three forms have distinct lengths: 29, 24, and 30 to 33 (RFC 850's full day names).
    let (weekday, day, month, year, time) = match s.len() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        29 if &s[3..5] == b", "
            && s[7] == b' '
            && s[11] == b' '
            && s[16] == b' '
            && s.ends_with(b" GMT") =>
        {
            (
                &s[..3],
                &s[5..7],
                &s[8..11],
                digits(&s[12..16])?,
                &s[17..25],
            )
        }
        // Sun Nov  6 08:49:37 1994
        24 if s[3] == b' ' && s[7] == b' ' && s[10] == b' ' && s[19] == b' ' => {
            let day = s[8..10].strip_prefix(b" ").unwrap_or(&s[8..10]);
            (&s[..3], day, &s[4..7], digits(&s[20..24])?, &s[11..19])
        }
        // Sunday, 06-Nov-94 08:49:37 GMT (two-digit years from 1970 to 2069)
        30..=33 => {
            let (name, rest) = s.split_at(s.len() - 22);
            let name = name.strip_suffix(b", ")?;
            // httpdate does not look at the byte before the time (`rest[9]`); a space is asked.
            if !WEEKDAYS.contains(&name)
                || rest[2] != b'-'
                || rest[6] != b'-'
                || rest[9] != b' '
                || !rest.ends_with(b" GMT")
            {
                return None;
            }
            let yy = digits(&rest[7..9])?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (&name[..3], &rest[..2], &rest[3..6], year, &rest[10..18])
        }
        _ => return None,
    };
    if time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (
        digits(&time[..2])?,
        digits(&time[3..5])?,
        digits(&time[6..])?,
    );
    let month = index(MONTHS, month)? + 1;
    let day = digits(day)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 => 28 + u64::from(leap),
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1970..=9999).contains(&year)
        || !(1..=month_days).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    // 1970-01-01 was a Thursday.
    if index(DAYS, weekday)? != (days + 3) % 7 {
        return None;
    }
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Where a three-letter name is in a run of them, from 0.
fn index(names: &[u8], name: &[u8]) -> Option<u64> {
    names.chunks(3).position(|n| n == name).map(|i| i as u64)
}

/// A run of ASCII digits (no sign, no space) as a number.
fn digits(s: &[u8]) -> Option<u64> {
    s.iter().try_fold(0, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar from 1970 on (the days
/// before each month counted from March, so that a leap day ends the year).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let from_march = (month + 9) % 12;
    let day_of_year = (153 * from_march + 2) / 5 + day - 1;
    let (era, year_of_era) = (y / 400, y % 400);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn reference(date: &str) -> Option<u64> {
        let t = httpdate::parse_http_date(date).ok()?;
        Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
    }

    /// The IMF-fixdate of `secs` (httpdate's writer) and, from its parts, the asctime form
    /// and (for the years a two-digit year can name) the RFC 850 form.
    fn forms(secs: u64) -> Vec<String> {
        let imf = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        let (wday, day, mon, year, time) = (
            &imf[..3],
            &imf[5..7],
            &imf[8..11],
            &imf[12..16],
            &imf[17..25],
        );
        let asc_day = day
            .strip_prefix('0')
            .map_or(day.to_owned(), |d| format!(" {d}"));
        let mut forms = vec![imf.clone(), format!("{wday} {mon} {asc_day} {time} {year}")];
        if (1970..2070).contains(&year.parse::<u32>().unwrap()) {
            let name = std::str::from_utf8(
                WEEKDAYS
                    .iter()
                    .find(|n| n.starts_with(wday.as_bytes()))
                    .unwrap(),
            )
            .unwrap();
            forms.push(format!("{name}, {day}-{mon}-{} {time} GMT", &year[2..]));
        }
        forms
    }

    /// Dates across leap years, month ends and the whole range, at varied times of day.
    fn sample() -> impl Iterator<Item = u64> {
        let last = 253_402_300_799; // 9999-12-31T23:59:59
        (0..last)
            .step_by(86_400 * 7 + 3_607)
            .chain([0, 951_782_400, 4_107_542_399, last])
    }

    #[test]
    fn reads_the_three_forms_of_rfc_9110() {
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " Sun Nov 06 08:49:37 1994\t",
        ] {
            assert_eq!(parse(date), Some(784_111_777), "{date:?}");
        }
        assert_eq!(parse("Thu, 29 Feb 2024 12:00:00 GMT"), Some(1_709_208_000));
        assert_eq!(
            parse("Tuesday, 01-Jan-69 00:00:00 GMT"),
            Some(3_124_224_000)
        );
    }

    #[test]
    fn agrees_with_httpdate_on_every_form_of_many_dates() {
        for secs in sample() {
            for date in forms(secs) {
                assert_eq!(parse(&date), Some(secs), "{date}");
                assert_eq!(reference(&date), Some(secs), "{date}");
            }
        }
    }

    #[test]
    fn agrees_with_httpdate_on_every_one_byte_change() {
        let bytes = b" 0129:-,ATGMSnu\x0b";
        for secs in sample().step_by(997) {
            for date in forms(secs) {
                for i in 0..date.len() {
                    for &b in bytes.iter().filter(|&&b| b != date.as_bytes()[i]) {
                        let mut changed = date.clone().into_bytes();
                        changed[i] = b;
                        let Ok(changed) = String::from_utf8(changed) else {
                            continue;
                        };
                        // The one byte httpdate does not check (see `parse`).
                        let rfc850_gap = date.contains('-') && i == date.len() - 13;
                        if rfc850_gap {
                            assert_eq!(parse(&changed), None, "{changed:?}");
                        } else {
                            assert_eq!(parse(&changed), reference(&changed), "{changed:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_what_is_not_an_http_date() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Apr 1994 08:49:37 GMT",
            "Sat, 29 Feb 2100 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Fri, 01 Jan 10000 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
            assert_eq!(reference(bad), None, "{bad:?}");
        }
    }
}
