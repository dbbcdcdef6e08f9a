//! RDB's primitives: lengths, strings (plain, integer-encoded, LZF-compressed), millisecond
//! times, read from untrusted bytes with every length checked against what is left, and
//! written as Redis writes them.

use super::lzf;

/// Why bytes are not a valid RDB value (RESTORE answers "Bad data format").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFormat(pub &'static str);

/// Reads RDB primitives from a byte slice.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A length, or the marker of a specially encoded string.
enum Length {
    Plain(u64),
    Encoded(u8),
}

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

impl<'a> Reader<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], BadFormat> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(BadFormat("truncated"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, BadFormat> {
        Ok(self.bytes(1)?[0])
    }

    /// A millisecond time: 8 bytes, little-endian.
    pub fn millis(&mut self) -> Result<u64, BadFormat> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn length_or_encoding(&mut self) -> Result<Length, BadFormat> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Length::Plain((first & 0x3f) as u64),
            1 => Length::Plain(((first as u64 & 0x3f) << 8) | self.u8()? as u64),
            2 => match first {
                0x80 => {
                    let b = self.bytes(4)?;
                    Length::Plain(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
                }
                0x81 => {
                    let b = self.bytes(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Length::Plain(u64::from_be_bytes(a))
                }
                _ => return Err(BadFormat("unknown length encoding")),
            },
            _ => Length::Encoded(first & 0x3f),
        })
    }

    /// A length.
    pub fn length(&mut self) -> Result<u64, BadFormat> {
        match self.length_or_encoding()? {
            Length::Plain(n) => Ok(n),
            Length::Encoded(_) => Err(BadFormat("a string encoding where a length belongs")),
        }
    }

    /// A length that counts items of at least `min_item_bytes` each still to be read: a
    /// length larger than the rest of the input could hold is refused before anything is
    /// allocated for it.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize, BadFormat> {
        let n = self.length()?;
        let fits = n.saturating_mul(min_item_bytes.max(1) as u64) <= self.remaining() as u64;
        if !fits {
            return Err(BadFormat("a count larger than the payload"));
        }
        Ok(n as usize)
    }

    /// Steps over a string, whatever its encoding, without decoding it.
    pub fn skip_string(&mut self) -> Result<(), BadFormat> {
        match self.length_or_encoding()? {
            Length::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| BadFormat("string too long"))?;
                self.bytes(n).map(drop)
            }
            Length::Encoded(ENC_INT8) => self.bytes(1).map(drop),
            Length::Encoded(ENC_INT16) => self.bytes(2).map(drop),
            Length::Encoded(ENC_INT32) => self.bytes(4).map(drop),
            Length::Encoded(ENC_LZF) => {
                let compressed = self.length()?;
                self.length()?;
                let compressed = usize::try_from(compressed).map_err(|_| BadFormat("lzf"))?;
                self.bytes(compressed).map(drop)
            }
            Length::Encoded(_) => Err(BadFormat("unknown string encoding")),
        }
    }

    /// A string, whatever its encoding.
    pub fn string(&mut self) -> Result<Vec<u8>, BadFormat> {
        match self.length_or_encoding()? {
            Length::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| BadFormat("string too long"))?;
                Ok(self.bytes(n)?.to_vec())
            }
            Length::Encoded(ENC_INT8) => Ok((self.u8()? as i8).to_string().into_bytes()),
            Length::Encoded(ENC_INT16) => {
                let b = self.bytes(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Length::Encoded(ENC_INT32) => {
                let b = self.bytes(4)?;
                Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into_bytes())
            }
            Length::Encoded(ENC_LZF) => {
                let compressed = self.length()?;
                let plain = self.length()?;
                let compressed = usize::try_from(compressed).map_err(|_| BadFormat("lzf"))?;
                // LZF expands at most about 256 times (a 2-byte reference makes 264 bytes):
                // a claimed length beyond that is a lie, refused before allocating it.
                if plain > (compressed as u64).saturating_mul(300).saturating_add(64) {
                    return Err(BadFormat("lzf length out of proportion"));
                }
                let input = self.bytes(compressed)?;
                lzf::decompress(input, plain as usize).ok_or(BadFormat("bad lzf data"))
            }
            Length::Encoded(_) => Err(BadFormat("unknown string encoding")),
        }
    }
}

/// Appends a length.
pub fn write_length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a millisecond time.
pub fn write_millis(out: &mut Vec<u8>, ms: u64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

/// Appends a string as Redis does: as an integer when it is one's canonical text (and fits
/// 32 bits), LZF-compressed when `compress` and that saves at least 4 bytes of a string
/// over 20 bytes, else as it is.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = canonical_int(s) {
            if let Ok(v) = i8::try_from(n) {
                out.push(0xc0 | ENC_INT8);
                out.push(v as u8);
                return;
            }
            if let Ok(v) = i16::try_from(n) {
                out.push(0xc0 | ENC_INT16);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(n) {
                out.push(0xc0 | ENC_INT32);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            write_length(out, packed.len() as u64);
            write_length(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    write_length(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The integer `s` is the canonical text of (no sign on zero, no leading zeros, no `+`).
fn canonical_int(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_strings_round_trip() {
        // Each boundary of the 6-, 14-, 32- and 64-bit length encodings.
        let lengths = [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
        ];
        let mut out = Vec::new();
        for n in lengths {
            write_length(&mut out, n);
        }
        let strings: [&[u8]; 7] = [
            b"",
            b"12",
            b"-300",
            b"70000",
            b"007",
            b"hello",
            &[b'x'; 100],
        ];
        for s in strings {
            write_string(&mut out, s, true);
        }
        let mut r = Reader::new(&out);
        for n in lengths {
            assert_eq!(r.length(), Ok(n));
        }
        for s in strings {
            assert_eq!(r.string().as_deref(), Ok(s));
        }
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn hostile_lengths_are_refused_without_allocating() {
        let mut out = vec![0xc3];
        write_length(&mut out, 3);
        write_length(&mut out, u32::MAX as u64);
        out.extend_from_slice(b"abc");
        assert!(Reader::new(&out).string().is_err());
        let mut out = Vec::new();
        write_length(&mut out, 1 << 40);
        assert!(Reader::new(&out).count(1).is_err());
        assert!(Reader::new(&[0x80, 0xff, 0xff, 0xff, 0xff])
            .string()
            .is_err());
    }
}
