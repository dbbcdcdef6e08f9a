//! `StreamId`: the `ms-seq` identity of a stream entry, and every textual form Redis accepts.

use std::fmt;

use bytes::Bytes;

use crate::error;
use crate::reply::Reply;

/// A stream entry ID: milliseconds and a sequence number within that millisecond.
/// Ordered first by `ms`, then by `seq`, which is also the order of entries in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Unix time in milliseconds for auto-generated IDs; any number for explicit ones.
    pub ms: u64,
    /// Order among entries of the same millisecond, from 0.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`: smaller than every valid entry ID.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The last ID a stream can ever hold.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// `ms-seq`; `const` so that IDs can be constants.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID in order, `None` past [`StreamId::MAX`].
    pub fn successor(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID in order, `None` before [`StreamId::MIN`].
    pub fn predecessor(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The ID an auto-generated XADD takes after `last`, at wall-clock time `now_ms`:
    /// the current millisecond when the clock moved on, else the next sequence number
    /// (the clock may go backwards; IDs never do).
    pub fn next_auto(last: StreamId, now_ms: u64) -> StreamId {
        if now_ms > last.ms {
            StreamId::new(now_ms, 0)
        } else {
            last.successor().unwrap_or(StreamId::MAX)
        }
    }

    /// The ID as a reply: a bulk string of its text, written straight into the output (see
    /// [`Reply::Id`]).
    pub fn to_reply(self) -> Reply {
        Reply::Id(self)
    }

    /// The ID's text `ms-seq` as bytes, for an argument or a reply.
    pub fn to_bytes(self) -> Bytes {
        let mut buf = [0u8; 41];
        Bytes::copy_from_slice(self.text(&mut buf))
    }

    /// The texts of `ids`, as arguments: written into one buffer, each a slice of it (one
    /// allocation for a whole XACK instead of one per ID).
    pub fn texts(ids: &[StreamId]) -> impl Iterator<Item = Bytes> {
        let mut buf = Vec::with_capacity(ids.len() * 20);
        let mut ends = Vec::with_capacity(ids.len());
        let mut text = [0u8; 41];
        for id in ids {
            buf.extend_from_slice(id.text(&mut text));
            ends.push(buf.len());
        }
        let buf = Bytes::from(buf);
        let starts = std::iter::once(0).chain(ends.clone());
        starts
            .zip(ends)
            .map(move |(start, end)| buf.slice(start..end))
    }

    /// Writes `ms-seq` at the end of `buf`; returns the written part.
    pub fn text(self, buf: &mut [u8; 41]) -> &[u8] {
        let mut end = buf.len();
        end = write_digits(buf, end, self.seq);
        end -= 1;
        buf[end] = b'-';
        end = write_digits(buf, end, self.ms);
        &buf[end..]
    }

    /// Reads `ms-seq` (two unsigned decimal numbers, nothing else): the form replies carry.
    pub fn from_text(text: &[u8]) -> Option<StreamId> {
        let dash = text.iter().position(|&b| b == b'-')?;
        Some(StreamId::new(
            decimal_u64(&text[..dash])?,
            decimal_u64(&text[dash + 1..])?,
        ))
    }
}

/// "00" to "99": two digits per division, half the steps of one digit at a time (every
/// entry a read replies has its ID written).
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `n` in decimal, written at the end of `buf` (no allocation): for numbers in replies and
/// in logged commands.
pub(crate) fn decimal(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let end = buf.len();
    let start = write_digits(buf, end, n);
    &buf[start..]
}

/// Writes `v` in decimal just before `end`; returns where it starts.
fn write_digits(buf: &mut [u8], mut end: usize, mut v: u64) -> usize {
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        end -= 2;
        buf[end..end + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        end -= 2;
        buf[end..end + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        end -= 1;
        buf[end] = b'0' + v as u8;
    }
    end
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 41];
        // Only ASCII digits and a dash.
        f.pad(std::str::from_utf8(self.text(&mut buf)).unwrap_or_default())
    }
}

/// An ID parsed from a command argument. `seq_given` is false for the `ms-*` form, where
/// XADD picks the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedId {
    /// The ID; for `ms-*` its `seq` is 0 and means nothing until XADD picks one.
    pub id: StreamId,
    /// False only for `ms-*`.
    pub seq_given: bool,
}

/// Parses an ID the way every stream command does. `-` and `+` are the smallest and largest
/// IDs unless `strict`; a bare `ms` takes `missing_seq`; `ms-*` is only accepted when
/// `allow_auto_seq`. Anything else is Redis's "Invalid stream ID" error.
pub fn parse_id(
    arg: &[u8],
    strict: bool,
    missing_seq: u64,
    allow_auto_seq: bool,
) -> Result<ParsedId, Reply> {
    // The common case, every ID a client echoes back: plain digits, read in one pass.
    if let Some(id) = plain_id(arg, missing_seq) {
        return Ok(ParsedId {
            id,
            seq_given: true,
        });
    }
    let invalid = || Reply::error(error::INVALID_STREAM_ID);
    // Redis copies the argument into a 128-byte C buffer first.
    if arg.len() > 127 {
        return Err(invalid());
    }
    // The C code stops at the first NUL byte.
    let arg = match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    };
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(invalid());
        }
        let id = if arg == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Ok(ParsedId {
            id,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64_like_redis(ms_part).ok_or_else(invalid)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if allow_auto_seq => (0, false),
        Some(part) => (parse_u64_like_redis(part).ok_or_else(invalid)?, true),
        None => (missing_seq, true),
    };
    Ok(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// Parses an ID that must be a concrete ID (no `-`/`+`), with a bare `ms` meaning `ms-0`.
pub fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id(arg, true, 0, false).map(|p| p.id)
}

/// A bound of an XRANGE-style interval: `-`, `+`, `ms`, `ms-seq`, or `(ms-seq` for an exclusive
/// bound. Returns the ID and whether it excludes itself.
pub fn parse_range_bound(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id(&arg[1..], true, missing_seq, false)?.id;
        Ok((id, true))
    } else {
        Ok((parse_id(arg, false, missing_seq, false)?.id, false))
    }
}

/// `ms-seq` or a bare `ms` (which takes `missing_seq`) in one to 19 plain digits each, read
/// in one pass; `None` for anything else (a sign, a NUL, `*`, 20 digits or more...), which
/// the general parser then judges.
fn plain_id(arg: &[u8], missing_seq: u64) -> Option<StreamId> {
    let (ms, at) = leading_digits(arg)?;
    let seq = match arg.get(at) {
        None => missing_seq,
        Some(b'-') => plain_digits(&arg[at + 1..])?,
        Some(_) => return None,
    };
    Some(StreamId { ms, seq })
}

/// The most digits [`leading_digits`] reads: any 19 digits fit in a `u64` (`u64::MAX` has
/// 20), so they are summed without an overflow check per digit.
const PLAIN_DIGITS_MAX: usize = 19;

/// The number the ASCII digits at the start of `text` spell, and how many there are: one
/// to [`PLAIN_DIGITS_MAX`] of them (leading zeros allowed, as `strtoull` allows them).
fn leading_digits(text: &[u8]) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    let mut at = 0;
    while at < text.len() {
        let digit = text[at].wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        if at == PLAIN_DIGITS_MAX {
            return None;
        }
        n = n * 10 + u64::from(digit);
        at += 1;
    }
    (at > 0).then_some((n, at))
}

/// One to 19 ASCII digits and nothing else as a number; `None` for anything else, which the
/// general parser then judges (20-digit values included).
fn plain_digits(part: &[u8]) -> Option<u64> {
    leading_digits(part).and_then(|(n, len)| (len == part.len()).then_some(n))
}

/// One to 20 ASCII digits and nothing else as a number, `u64::MAX` included; `None` for
/// anything else or a value past it.
fn decimal_u64(part: &[u8]) -> Option<u64> {
    if part.is_empty() || part.len() > 20 {
        return None;
    }
    part.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Redis's `string2ull`: a strict signed integer that must not be negative, or else whatever
/// C's `strtoull` accepts in full (leading blanks, a sign; `-N` wraps around as in C).
pub fn parse_u64_like_redis(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::args::parse_i64_strict(s) {
        return if v < 0 { None } else { Some(v as u64) };
    }
    crate::args::c_strtoull(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain digits take the direct path; everything at its edges reads as before.
    #[test]
    fn plain_and_general_ids_parse_alike() {
        let ok = |t: &str| parse_strict_id(t.as_bytes()).ok();
        assert_eq!(ok("0001-02"), Some(StreamId::new(1, 2)));
        assert_eq!(ok("5"), Some(StreamId::new(5, 0)));
        assert_eq!(
            ok("9999999999999999999-0"),
            Some(StreamId::new(9_999_999_999_999_999_999, 0))
        );
        assert_eq!(
            ok("18446744073709551615-18446744073709551615"),
            Some(StreamId::MAX)
        );
        assert_eq!(ok("18446744073709551616-0"), None);
        // Past 19 digits the general parser reads them: 20 of them, or leading zeros.
        assert_eq!(
            ok("10000000000000000000-0"),
            Some(StreamId::new(10_000_000_000_000_000_000, 0))
        );
        assert_eq!(ok("00000000000000000000001-5"), Some(StreamId::new(1, 5)));
        assert_eq!(ok("7-00000000000000000000009"), Some(StreamId::new(7, 9)));
        assert_eq!(ok("+1-1"), Some(StreamId::new(1, 1)));
        assert_eq!(ok("1-"), None);
        assert_eq!(ok("-1"), None);
        assert_eq!(ok("1-2-3"), None);
        assert_eq!(ok("1\0-7"), Some(StreamId::new(1, 0)));
    }

    /// Every digit count, powers of ten and their neighbours, as Rust prints them.
    #[test]
    fn decimals_are_written_as_rust_writes_them() {
        let mut values = vec![0, u64::MAX, 1_700_000_000_123];
        for exp in 0..20u32 {
            let p = 10u64.pow(exp);
            values.extend([p - 1, p, p + 1, p.saturating_mul(7).saturating_add(3)]);
        }
        for v in values {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(v, &mut buf), v.to_string().as_bytes(), "{v}");
        }
    }

    #[test]
    fn text_round_trips() {
        for id in [
            StreamId::MIN,
            StreamId::MAX,
            StreamId::new(1_700_000_000_123, 7),
            StreamId::new(10, 0),
        ] {
            let text = id.to_string();
            assert_eq!(text, format!("{}-{}", id.ms, id.seq));
            assert_eq!(id.to_bytes().as_ref(), text.as_bytes());
            assert_eq!(StreamId::from_text(text.as_bytes()), Some(id));
        }
        for bad in [
            &b""[..],
            b"5",
            b"-5",
            b"5-",
            b"5-x",
            b"a-1",
            b"18446744073709551616-0",
            b"+5-1",
        ] {
            assert_eq!(StreamId::from_text(bad), None, "{bad:?}");
        }
        assert_eq!(format!("{:>6}", StreamId::new(1, 2)), "   1-2");
    }

    #[test]
    fn forms() {
        assert_eq!(parse_strict_id(b"5").ok(), Some(StreamId::new(5, 0)));
        assert_eq!(parse_strict_id(b"5-3").ok(), Some(StreamId::new(5, 3)));
        assert!(parse_strict_id(b"-").is_err());
        assert!(parse_strict_id(b"5-x").is_err());
        assert!(parse_strict_id(b"-1").is_err());
        assert_eq!(parse_strict_id(b"+5").ok(), Some(StreamId::new(5, 0)));
        let p = parse_id(b"7-*", true, 0, true).ok();
        assert_eq!(
            p,
            Some(ParsedId {
                id: StreamId::new(7, 0),
                seq_given: false
            })
        );
        assert_eq!(
            parse_range_bound(b"(5-1", 0).ok(),
            Some((StreamId::new(5, 1), true))
        );
        assert_eq!(
            parse_range_bound(b"+", u64::MAX).ok(),
            Some((StreamId::MAX, false))
        );
        assert_eq!(
            parse_strict_id(b"18446744073709551615-18446744073709551615").ok(),
            Some(StreamId::MAX)
        );
        assert!(parse_strict_id(b"18446744073709551616").is_err());
    }

    #[test]
    fn replies_format_like_display() {
        for id in [
            StreamId::MIN,
            StreamId::MAX,
            StreamId::new(1700000000000, 42),
        ] {
            assert_eq!(id.to_reply(), Reply::text(id.to_string()));
        }
    }

    #[test]
    fn neighbours() {
        assert_eq!(
            StreamId::new(1, u64::MAX).successor(),
            Some(StreamId::new(2, 0))
        );
        assert_eq!(StreamId::MAX.successor(), None);
        assert_eq!(StreamId::MIN.predecessor(), None);
        assert_eq!(
            StreamId::next_auto(StreamId::new(10, 4), 5),
            StreamId::new(10, 5)
        );
    }
}
