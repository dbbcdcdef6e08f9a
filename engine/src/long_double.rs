//! INCRBYFLOAT's arithmetic, exactly as Redis does it on x86-64: in C's `long double` (the
//! x87 80-bit format: a 64-bit significand), parsing with `strtold` and printing with
//! `%.17Lf` without trailing zeros. Doing it in `f64` would answer `10.599999999999999` where
//! Redis answers `10.6`, so values are kept as a significand and a binary exponent, and every
//! conversion and sum is rounded once, to nearest, ties to even, with exact big integers.

use num_bigint::{BigInt, BigUint, Sign};

/// The unit exponent of the smallest subnormal (2^-16445).
const MIN_EXP: i64 = -16445;
/// The highest bit position a finite value may have (below 2^16384).
const MAX_TOP: i64 = 16383;
/// Decimal exponents beyond which a literal certainly overflows or underflows (long double
/// spans about 10^-4951 to 10^4932): checked before any big number is built.
const DECIMAL_RANGE: (i64, i64) = (-4970, 4940);
/// Redis refuses longer numbers (`MAX_LONG_DOUBLE_CHARS`).
pub const MAX_CHARS: usize = 5 * 1024;

/// A `long double` value: `significand * 2^exp`, or an infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LongDouble {
    /// A finite value (zero when the significand is 0).
    Finite {
        /// The sign (kept for -0 too).
        negative: bool,
        /// At most 64 bits.
        significand: u64,
        /// The power of two it is multiplied by.
        exp: i64,
    },
    /// Plus or minus infinity.
    Infinite {
        /// The sign.
        negative: bool,
    },
}

/// Rounds `n * 2^e` (plus less than half a unit when `sticky`) to a long double.
fn finish(negative: bool, n: BigUint, e: i64, sticky: bool) -> LongDouble {
    let bits = n.bits() as i64;
    if bits == 0 {
        return LongDouble::Finite {
            negative,
            significand: 0,
            exp: 0,
        };
    }
    let shift = (bits - 64).max(MIN_EXP - e).max(0);
    let (mut q, mut exp) = (n.clone() >> shift as usize, e + shift);
    if shift > 0 {
        let rem = &n - (&q << shift as usize);
        let half = BigUint::from(1u8) << (shift - 1) as usize;
        let odd = q.bit(0);
        if rem > half || (rem == half && (odd || sticky)) {
            q += 1u8;
        }
    }
    if q.bits() > 64 {
        q >>= 1;
        exp += 1;
    }
    if q.bits() as i64 - 1 + exp > MAX_TOP {
        return LongDouble::Infinite { negative };
    }
    let significand = q.iter_u64_digits().next().unwrap_or(0);
    LongDouble::Finite {
        negative,
        significand,
        exp,
    }
}

impl LongDouble {
    /// Parses `text` as Redis's `string2ld` does: `strtold` over the whole string, no leading
    /// space, not NaN, and refused when it overflows or underflows to zero. (`strtold`'s
    /// hexadecimal floats are not read: Rill refuses them.)
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS {
            return None;
        }
        let (negative, rest) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = rest.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(LongDouble::Infinite { negative });
        }
        let (mut digits, mut exp10, mut seen_digit, mut seen_dot) =
            (Vec::new(), 0i64, false, false);
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                d @ b'0'..=b'9' => {
                    seen_digit = true;
                    if !(digits.is_empty() && d == b'0') {
                        digits.push(d);
                    }
                    if seen_dot {
                        exp10 -= 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if !seen_digit {
            return None;
        }
        if i < rest.len() {
            // An exponent, which must take the rest of the string.
            if rest[i] != b'e' && rest[i] != b'E' {
                return None;
            }
            let e = std::str::from_utf8(&rest[i + 1..]).ok()?;
            let e = e.strip_prefix('+').unwrap_or(e);
            if e.is_empty()
                || !e
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let given: i64 = e.parse().unwrap_or(if e.starts_with('-') {
                i64::MIN / 4
            } else {
                i64::MAX / 4
            });
            exp10 = exp10.saturating_add(given);
        }
        if digits.is_empty() {
            return Some(LongDouble::Finite {
                negative,
                significand: 0,
                exp: 0,
            });
        }
        let magnitude = exp10.saturating_add(digits.len() as i64);
        if magnitude > DECIMAL_RANGE.1 || magnitude < DECIMAL_RANGE.0 {
            return None; // ERANGE: overflow, or underflow to zero
        }
        let d = BigUint::parse_bytes(&digits, 10)?;
        let value = if exp10 >= 0 {
            finish(
                negative,
                d * BigUint::from(10u8).pow(exp10 as u32),
                0,
                false,
            )
        } else {
            let divisor = BigUint::from(10u8).pow((-exp10) as u32);
            let s = (66 + divisor.bits() as i64 - d.bits() as i64).max(0);
            let scaled = d << s as usize;
            let q = &scaled / &divisor;
            let sticky = &q * &divisor != scaled;
            finish(negative, q, -s, sticky)
        };
        match value {
            LongDouble::Infinite { .. } => None,
            LongDouble::Finite { significand: 0, .. } => None,
            v => Some(v),
        }
    }

    /// From an integer (a listpack stores some hash values so).
    pub fn from_i64(n: i64) -> LongDouble {
        finish(n < 0, BigUint::from(n.unsigned_abs()), 0, false)
    }

    /// The sum, rounded once; `None` when it is infinite or not a number.
    pub fn add(&self, other: &LongDouble) -> Option<LongDouble> {
        let (
            LongDouble::Finite {
                negative: na,
                significand: ma,
                exp: ea,
            },
            LongDouble::Finite {
                negative: nb,
                significand: mb,
                exp: eb,
            },
        ) = (self, other)
        else {
            return None;
        };
        let e = (*ea).min(*eb);
        let signed = |negative: bool, m: u64, exp: i64| {
            let v = BigInt::from(m) << (exp - e) as usize;
            if negative {
                -v
            } else {
                v
            }
        };
        let sum = signed(*na, *ma, *ea) + signed(*nb, *mb, *eb);
        let negative = match sum.sign() {
            Sign::Minus => true,
            Sign::Plus => false,
            // x + -x is +0; -0 + -0 stays -0.
            Sign::NoSign => *na && *nb,
        };
        match finish(negative, sum.magnitude().clone(), e, false) {
            LongDouble::Infinite { .. } => None,
            v => Some(v),
        }
    }

    /// The nearest `f64` (for timeouts).
    pub fn to_f64(&self) -> f64 {
        match *self {
            LongDouble::Infinite { negative } => {
                if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            LongDouble::Finite {
                negative,
                significand,
                exp,
            } => {
                let magnitude = significand as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
                if negative {
                    -magnitude
                } else {
                    magnitude
                }
            }
        }
    }

    /// `%.17Lf` without trailing zeros (nor a trailing dot), and `-0` as `0`: Redis's
    /// human-friendly form.
    pub fn to_human(&self) -> String {
        let LongDouble::Finite {
            negative,
            significand,
            exp,
        } = *self
        else {
            return if matches!(self, LongDouble::Infinite { negative: true }) {
                "-inf".into()
            } else {
                "inf".into()
            };
        };
        let scale = BigUint::from(10u8).pow(17);
        let fixed = if exp >= 0 {
            (BigUint::from(significand) << exp as usize) * &scale
        } else {
            let k = (-exp) as usize;
            let x = BigUint::from(significand) * &scale;
            let mut q = &x >> k;
            let rem = &x - (&q << k);
            let half = BigUint::from(1u8) << (k - 1);
            if rem > half || (rem == half && q.bit(0)) {
                q += 1u8;
            }
            q
        };
        let int_part = &fixed / &scale;
        let frac = format!("{:0>17}", (&fixed % &scale).to_string());
        let frac = frac.trim_end_matches('0');
        let mut out = String::new();
        let zero = fixed.bits() == 0;
        if negative && !zero {
            out.push('-');
        }
        out.push_str(&int_part.to_string());
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        a.add(&b).map(|v| v.to_human())
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(sum("10.50", "0.1").as_deref(), Some("10.6"));
        assert_eq!(sum("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(sum("5.0e3", "2.0e2").as_deref(), Some("5200"));
        assert_eq!(sum("3", "-3").as_deref(), Some("0"));
        assert_eq!(sum("-1", "0.5").as_deref(), Some("-0.5"));
        assert_eq!(sum("1", "1e-30").as_deref(), Some("1"));
        assert_eq!(
            sum("1.2345678901234567", "0").as_deref(),
            Some("1.23456789012345670").map(|s| s.trim_end_matches('0'))
        );
        assert_eq!(sum("1e4932", "1e4932"), None);
        assert_eq!(sum("inf", "1"), None);
    }

    #[test]
    fn strtold_rules() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", "--1", "nan", ".", "1.2.3", "1e99999", "1e-99999",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in [
            "1",
            "+1",
            "-1",
            ".5",
            "5.",
            "1e5",
            "1E-5",
            "00012",
            "0",
            "-0",
            "inf",
            "-Infinity",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
    }
}
