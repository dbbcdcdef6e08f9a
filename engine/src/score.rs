//! Doubles as Redis reads and prints them: sorted-set scores, range bounds, and the RESP3
//! double replies. Parsing follows C's `strtod` (what Redis calls); printing follows Redis 7.2+
//! (`d2string`): integers that fit print as integers, anything else as the shortest digits that
//! read back to the same double, laid out as Redis's `fpconv_dtoa` lays them out.

/// C's `isspace`, which `strtod` skips before a number.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtod` over the whole of `text` (leading white space allowed, nothing after): `None` when
/// some of it is not part of the number. Overflow gives an infinity and underflow zero, as
/// `strtod` returns them; the callers decide what they accept. (`strtod`'s hexadecimal floats
/// are not read: Rill refuses them.)
fn strtod(text: &[u8]) -> Option<f64> {
    let start = text.iter().position(|&b| !is_c_space(b))?;
    let text = std::str::from_utf8(&text[start..]).ok()?;
    // Rust accepts what strtod accepts here except a few spellings of its own: "infinity" and
    // "nan" in any case are common to both; Rust refuses "1." followed by an exponent less
    // often than C, so only plain decimal syntax and the named values are let through.
    let body = text.trim_start_matches(['+', '-']);
    if text.len() - body.len() > 1 {
        return None;
    }
    let named = body.eq_ignore_ascii_case("inf")
        || body.eq_ignore_ascii_case("infinity")
        || body.eq_ignore_ascii_case("nan");
    let decimal = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !named && !decimal {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Whether the digits before any exponent hold something other than zeros: a text that does
/// and still reads as zero underflowed.
fn has_nonzero_digit(text: &[u8]) -> bool {
    text.iter()
        .take_while(|&&b| b != b'e' && b != b'E')
        .any(|b| (b'1'..=b'9').contains(b))
}

/// A score or increment (Redis's `getDoubleFromObject`): the whole string, no leading space,
/// not NaN, and neither overflowing to an infinity nor underflowing to zero.
pub fn parse_strict(text: &[u8]) -> Option<f64> {
    if text.first().is_none_or(|&b| is_c_space(b)) {
        return None;
    }
    let value = strtod(text)?;
    let lower = text.to_ascii_lowercase();
    let named_inf = lower.ends_with(b"inf") || lower.ends_with(b"infinity");
    if value.is_nan() || (value.is_infinite() && !named_inf) {
        return None;
    }
    if value == 0.0 && has_nonzero_digit(text) {
        return None;
    }
    Some(value)
}

/// A range bound's number (Redis's `zslParseRange`, `strtod` without range checks): leading
/// space allowed, an empty text is 0, overflow is an infinity; only NaN and trailing bytes
/// are refused.
pub fn parse_lax(text: &[u8]) -> Option<f64> {
    if text.iter().all(|&b| is_c_space(b)) {
        // strtod reads nothing and ends where it started: Redis sees 0 and an empty rest.
        return text.is_empty().then_some(0.0);
    }
    strtod(text).filter(|v| !v.is_nan())
}

/// How both of Redis's score printers write NaN, the infinities and the zeros.
fn special(d: f64) -> Option<&'static str> {
    if d.is_nan() {
        Some("nan")
    } else if d.is_infinite() {
        Some(if d > 0.0 { "inf" } else { "-inf" })
    } else if d == 0.0 {
        Some(if d.is_sign_negative() { "-0" } else { "0" })
    } else {
        None
    }
}

/// Redis's `d2string` (7.2+): how a score prints in replies and files.
pub fn format(d: f64) -> String {
    if let Some(text) = special(d) {
        return text.into();
    }
    // Integers in range print as integers (Redis's `double2ll` fast path).
    let half = (i64::MAX / 2) as f64;
    if (-half..=half).contains(&d) && d.fract() == 0.0 {
        return (d as i64).to_string();
    }
    shortest(d)
}

/// Redis's `ld2string(..., LD_STR_AUTO)` of a score, `%.17Lg`: how ZSCAN prints the scores of
/// a sorted set in the skiplist form (it reads them from the member index as doubles; a
/// listpack's scan shows the scores as stored, [`format`]'s form).
pub fn format_g17(d: f64) -> String {
    if let Some(text) = special(d) {
        return text.into();
    }
    const PRECISION: i32 = 17;
    // Seventeen significant digits, rounded once; the exponent after rounding decides the
    // layout, as in C's %g.
    let scientific = format!("{:.*e}", PRECISION as usize - 1, d);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let trim = |digits: &str| -> String {
        if digits.contains('.') {
            digits
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            digits.to_string()
        }
    };
    if !(-4..PRECISION).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), exponent.abs());
    }
    let decimals = (PRECISION - 1 - exponent).max(0) as usize;
    trim(&format!("{d:.decimals$}"))
}

/// The shortest digits that read back as `d`, in `fpconv_dtoa`'s layout: plain integers up to
/// seven zeros past the digits, plain decimals down to six leading zeros (or with at most
/// three digits before the point), and `d.ddde±x` otherwise. Redis's digits come from Grisu2,
/// which in rare cases gives a longer form than the shortest (1e23 prints as
/// `99999999999999990000000` there, `1e+23` here); both read back as the same double.
fn shortest(d: f64) -> String {
    let sci = format!("{:e}", d.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let point: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // The value is digits × 10^k.
    let k = point - (n - 1);
    let exp = point.abs();
    let mut out = String::with_capacity(24);
    if d < 0.0 {
        out.push('-');
    }
    if k >= 0 && exp < n + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if point < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_redis_7_2() {
        let cases = [
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e18, "1000000000000000000"),
            (1e20, "1e+20"),
            (1e-5, "0.00001"),
            (1e-7, "1e-7"),
            (0.0009765625, "9.765625e-4"),
            (123.456, "123.456"),
            (3.0000000000000004, "3.0000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e-10, "-2.5e-10"),
            (12345678.9, "12345678.9"),
            (1.1, "1.1"),
            (1e17, "100000000000000000"),
            (123456789012345678.0, "123456789012345680"),
            (4.6e18, "4600000000000000000"),
            (1e21, "1e+21"),
            (123456.7890123, "1.234567890123e+5"),
            (0.000123, "0.000123"),
            (f64::INFINITY, "inf"),
        ];
        for (d, text) in cases {
            assert_eq!(format(d), text, "{d:e}");
        }
    }

    #[test]
    fn parses_as_strtod() {
        assert_eq!(parse_strict(b"1.5"), Some(1.5));
        assert_eq!(parse_strict(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_strict(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_strict(b"nan"), None);
        assert_eq!(parse_strict(b" 1"), None);
        assert_eq!(parse_strict(b"1e400"), None);
        assert_eq!(parse_strict(b"1e-400"), None);
        assert_eq!(parse_strict(b"0e-400"), Some(0.0));
        assert_eq!(parse_strict(b""), None);
        assert_eq!(parse_strict(b"1x"), None);
        assert_eq!(parse_lax(b""), Some(0.0));
        assert_eq!(parse_lax(b" 2"), Some(2.0));
        assert_eq!(parse_lax(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_lax(b"nan"), None);
        assert_eq!(parse_lax(b"--1"), None);
    }

    /// `%.17g` as glibc prints it, for the values ZSCAN of a skiplist shows.
    #[test]
    fn seventeen_significant_digits_as_c_prints_them() {
        for (d, text) in [
            (0.1, "0.10000000000000001"),
            (1e-5, "1.0000000000000001e-05"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (12345678901234567890.0, "1.2345678901234567e+19"),
            (1e16, "10000000000000000"),
            (9.999999999999998e16, "99999999999999984"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (123456.789, "123456.789"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
            (3.0000000000000004, "3.0000000000000004"),
        ] {
            assert_eq!(format_g17(d), text, "{d:e}");
        }
    }
}
