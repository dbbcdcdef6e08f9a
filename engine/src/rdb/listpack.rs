//! Listpacks, the byte format of a stream node in RDB: a 6-byte header (total bytes, element
//! count), elements (an encoding byte, the data, the element's length backwards), and 0xFF.
//! Read with every length checked; written as Redis writes them (strings that are canonical
//! integers stored as integers).

use super::encoding::BadFormat;

/// One element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    /// A string.
    Str(&'a [u8]),
    /// An integer.
    Int(i64),
}

/// An element's text without allocating: a string as it is in the listpack, an integer's
/// decimal digits in place.
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    /// A string element.
    Str(&'a [u8]),
    /// An integer's digits.
    Int {
        /// The decimal text, left-aligned.
        digits: [u8; 20],
        /// How many bytes of `digits` it takes.
        len: u8,
    },
}

impl Text<'_> {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Text::Str(s) => s,
            Text::Int { digits, len } => &digits[..*len as usize],
        }
    }
}

impl<'a> Element<'a> {
    /// The element's text, borrowed or formatted in place.
    pub fn text(self) -> Text<'a> {
        match self {
            Element::Str(s) => Text::Str(s),
            Element::Int(n) => {
                let mut digits = [0u8; 20];
                let mut cursor = std::io::Cursor::new(&mut digits[..]);
                // An i64 has at most 20 characters: this cannot fail.
                let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{n}"));
                let len = cursor.position() as u8;
                Text::Int { digits, len }
            }
        }
    }
}

impl Element<'_> {
    /// The element as Redis hands it out: an integer's decimal text.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Element::Str(s) => s.to_vec(),
            Element::Int(n) => n.to_string().into_bytes(),
        }
    }

    /// The element as an integer (an integer, or a string holding one).
    pub fn as_int(self) -> Result<i64, BadFormat> {
        match self {
            Element::Int(n) => Ok(n),
            Element::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(BadFormat("a listpack string where an integer belongs")),
        }
    }
}

const HEADER: usize = 6;
const END: u8 = 0xff;

/// Every element of a listpack, checked: the header's total matches, each element lies
/// within the bytes, each back-length is right, and the end byte closes it.
pub fn elements(lp: &[u8]) -> Result<Vec<Element<'_>>, BadFormat> {
    let bad = |why| Err(BadFormat(why));
    if lp.len() < HEADER + 1 {
        return bad("listpack too short");
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return bad("listpack size mismatch");
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let mut out = Vec::new();
    let mut p = HEADER;
    loop {
        let Some(&first) = lp.get(p) else {
            return bad("listpack without end");
        };
        if first == END {
            if p + 1 != lp.len() {
                return bad("bytes after the listpack end");
            }
            break;
        }
        let (element, len) = element_at(&lp[p..])?;
        let back = backlen_size(len);
        let Some(stored) = lp.get(p + len..p + len + back) else {
            return bad("listpack element overflows");
        };
        if decode_backlen(stored) != Some(len) {
            return bad("bad listpack back-length");
        }
        out.push(element);
        p += len + back;
    }
    if declared != u16::MAX && declared as usize != out.len() {
        return bad("listpack count mismatch");
    }
    Ok(out)
}

/// The element at the start of `b` and its encoded length (encoding and data, without the
/// back-length).
fn element_at(b: &[u8]) -> Result<(Element<'_>, usize), BadFormat> {
    let take = |n: usize| b.get(..n).ok_or(BadFormat("listpack element truncated"));
    let first = b[0];
    if first & 0x80 == 0 {
        return Ok((Element::Int((first & 0x7f) as i64), 1));
    }
    if first & 0xc0 == 0x80 {
        let len = (first & 0x3f) as usize;
        let s = take(1 + len)?;
        return Ok((Element::Str(&s[1..]), 1 + len));
    }
    if first & 0xe0 == 0xc0 {
        let s = take(2)?;
        let raw = (((first & 0x1f) as u16) << 8 | s[1] as u16) as i64;
        let n = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
        return Ok((Element::Int(n), 2));
    }
    if first & 0xf0 == 0xe0 {
        let s = take(2)?;
        let len = (((first & 0x0f) as usize) << 8) | s[1] as usize;
        let s = take(2 + len)?;
        return Ok((Element::Str(&s[2..]), 2 + len));
    }
    let int = |n: usize| -> Result<(Element<'_>, usize), BadFormat> {
        let s = take(1 + n)?;
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&s[1..]);
        let v = i64::from_le_bytes(a);
        let shift = 64 - 8 * n as u32;
        Ok((Element::Int((v << shift) >> shift), 1 + n))
    };
    match first {
        0xf1 => int(2),
        0xf2 => int(3),
        0xf3 => int(4),
        0xf4 => int(8),
        0xf0 => {
            let s = take(5)?;
            let len = u32::from_le_bytes([s[1], s[2], s[3], s[4]]) as usize;
            let s = take(
                5usize
                    .checked_add(len)
                    .ok_or(BadFormat("listpack length"))?,
            )?;
            Ok((Element::Str(&s[5..]), 5 + len))
        }
        _ => Err(BadFormat("unknown listpack encoding")),
    }
}

fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Reads a back-length stored in `b` (its bytes in file order).
fn decode_backlen(b: &[u8]) -> Option<usize> {
    let mut v = 0usize;
    let mut shift = 0;
    for (i, &byte) in b.iter().rev().enumerate() {
        v |= ((byte & 0x7f) as usize) << shift;
        shift += 7;
        let more = byte & 0x80 != 0;
        if more != (i + 1 < b.len()) {
            return None;
        }
    }
    Some(v)
}

/// Appends a back-length as Redis writes it: the highest 7 bits first, the lowest last;
/// every byte but the first carries the continuation bit (it is read from the end).
fn encode_backlen(out: &mut Vec<u8>, len: usize) {
    let n = backlen_size(len);
    for i in (0..n).rev() {
        let byte = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i + 1 == n { byte } else { byte | 0x80 });
    }
}

/// Builds a listpack.
#[derive(Debug, Default)]
pub struct Builder {
    body: Vec<u8>,
    count: usize,
}

/// The integer `s` is the canonical decimal text of (no sign on 0, no leading zeros, no
/// `+`, within i64), as Redis's string2ll decides; parsed without allocating.
fn canonical_int(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'0', ..] => return None,
        _ if digits.len() > 19 => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

impl Builder {
    /// An empty listpack.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Appends an integer.
    pub fn int(&mut self, n: i64) {
        let start = self.body.len();
        if (0..=127).contains(&n) {
            self.body.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let v = (n as u16) & 0x1fff;
            self.body.push(0xc0 | (v >> 8) as u8);
            self.body.push(v as u8);
        } else if (-32768..=32767).contains(&n) {
            self.body.push(0xf1);
            self.body.extend_from_slice(&(n as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&n) {
            self.body.push(0xf2);
            self.body.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
            self.body.push(0xf3);
            self.body.extend_from_slice(&(n as i32).to_le_bytes());
        } else {
            self.body.push(0xf4);
            self.body.extend_from_slice(&n.to_le_bytes());
        }
        self.finish_element(start);
    }

    /// Appends a string (as an integer when it is one's canonical text, as Redis does).
    pub fn string(&mut self, s: &[u8]) {
        if let Some(n) = canonical_int(s) {
            self.int(n);
            return;
        }
        let start = self.body.len();
        if s.len() < 64 {
            self.body.push(0x80 | s.len() as u8);
        } else if s.len() < 4096 {
            self.body.push(0xe0 | (s.len() >> 8) as u8);
            self.body.push(s.len() as u8);
        } else {
            self.body.push(0xf0);
            self.body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        self.body.extend_from_slice(s);
        self.finish_element(start);
    }

    fn finish_element(&mut self, start: usize) {
        let len = self.body.len() - start;
        encode_backlen(&mut self.body, len);
        self.count += 1;
    }

    /// The listpack's bytes.
    pub fn finish(self) -> Vec<u8> {
        let total = HEADER + self.body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&self.body);
        out.push(END);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_are_what_redis_stores_as_integers() {
        for (text, expected) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("123", Some(123)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("007", None),
            ("+5", None),
            ("", None),
            ("-", None),
            ("1a", None),
            (" 1", None),
        ] {
            assert_eq!(canonical_int(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn elements_round_trip() {
        let mut b = Builder::new();
        let ints = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32769,
            8_388_607,
            1 << 31,
            -(1 << 40),
            i64::MIN,
        ];
        for n in ints {
            b.int(n);
        }
        let long = vec![b'z'; 5000];
        let strings: [&[u8]; 4] = [b"", b"field", &[b'y'; 100], &long];
        for s in strings {
            b.string(s);
        }
        b.string(b"123");
        let lp = b.finish();
        let got = elements(&lp).unwrap_or_else(|e| panic!("{e:?}"));
        let mut expected: Vec<Element> = ints.iter().map(|&n| Element::Int(n)).collect();
        expected.extend(strings.iter().map(|s| Element::Str(s)));
        expected.push(Element::Int(123));
        assert_eq!(got, expected);
    }

    #[test]
    fn damage_is_refused() {
        let mut b = Builder::new();
        b.string(b"hello");
        b.int(1000);
        let lp = b.finish();
        for cut in 0..lp.len() {
            assert!(elements(&lp[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..lp.len() {
            let mut bad = lp.clone();
            bad[at] ^= 0x55;
            let _ = elements(&bad);
        }
    }

    #[test]
    fn back_lengths_match_redis() {
        // Redis: 200 is stored as [0x01, 0xc8] (high 7 bits first, then low 7 bits | 128).
        let mut out = Vec::new();
        encode_backlen(&mut out, 200);
        assert_eq!(out, [0x01, 0xc8]);
        assert_eq!(decode_backlen(&out), Some(200));
    }
}
