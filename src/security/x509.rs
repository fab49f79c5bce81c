//! Just enough X.509 to read a certificate's subject-free facts kmirror
//! reports: when it stops being valid. A minimal DER walk over bytes kmirror
//! loaded itself (its own client certificate); anything unexpected is
//! `None`, never a panic.

/// The certificate's `notAfter` as seconds since the Unix epoch.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (cert, _) = element(der, 0x30)?;
    let (tbs, _) = element(cert, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = skip(rest)?; // [0] version
    }
    rest = skip(rest)?; // serial number
    rest = skip(rest)?; // signature algorithm
    rest = skip(rest)?; // issuer
    let (validity, _) = element(rest, 0x30)?;
    let after_not_before = skip(validity)?;
    let tag = *after_not_before.first()?;
    let (time, _) = element(after_not_before, tag)?;
    let text = std::str::from_utf8(time).ok()?;
    match tag {
        0x17 => parse_time(text, true),
        0x18 => parse_time(text, false),
        _ => None,
    }
}

/// `YYYY-MM-DD` for seconds since the Unix epoch (UTC).
pub fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The content of the DER element at the start of `data` with `tag`, and
/// what follows it.
fn element(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *data.first()? != tag {
        return None;
    }
    let (len, header) = length(&data[1..])?;
    let start = 1 + header;
    let end = start.checked_add(len)?;
    Some((data.get(start..end)?, data.get(end..)?))
}

fn skip(data: &[u8]) -> Option<&[u8]> {
    let tag = *data.first()?;
    element(data, tag).map(|(_, rest)| rest)
}

/// A DER length and how many bytes it took.
fn length(data: &[u8]) -> Option<(usize, usize)> {
    let first = *data.first()?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for &b in data.get(1..1 + n)? {
        len = (len << 8) | b as usize;
    }
    Some((len, 1 + n))
}

fn parse_time(text: &str, two_digit_year: bool) -> Option<i64> {
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str| s.parse::<i64>().ok();
    let (year, rest) = if two_digit_year {
        let yy = num(digits.get(0..2)?)?;
        (
            if yy >= 50 { 1900 + yy } else { 2000 + yy },
            digits.get(2..)?,
        )
    } else {
        (num(digits.get(0..4)?)?, digits.get(4..)?)
    };
    if rest.len() != 10 {
        return None;
    }
    let (mo, d, h, mi, s) = (
        num(&rest[0..2])?,
        num(&rest[2..4])?,
        num(&rest[4..6])?,
        num(&rest[6..8])?,
        num(&rest[8..10])?,
    );
    Some(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(date(days_from_civil(2021, 1, 1) * 86_400), "2021-01-01");
        assert_eq!(date(days_from_civil(2124, 2, 29) * 86_400), "2124-02-29");
        assert_eq!(
            parse_time("210101000000Z", true),
            Some(days_from_civil(2021, 1, 1) * 86_400)
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
