//! Ziplists, the compact encoding of Redis before 7.0 (small hashes, sorted sets and list
//! nodes in files of Redis 6.2 and older): a 10-byte header (total bytes, offset of the last
//! entry, entry count), entries (the previous entry's length, an encoding, the data), and
//! 0xFF. Only read, with every length checked: Rill writes listpacks, as Redis 7 does.

use super::encoding::BadFormat;
use super::listpack::Element;

const HEADER: usize = 10;
const END: u8 = 0xff;

/// Every entry of a ziplist, checked: the header's total matches, each entry lies within the
/// bytes, and the end byte closes it.
pub fn elements(zl: &[u8]) -> Result<Vec<Element<'_>>, BadFormat> {
    let bad = |why| Err(BadFormat(why));
    if zl.len() < HEADER + 1 {
        return bad("ziplist too short");
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return bad("ziplist size mismatch");
    }
    let mut out = Vec::new();
    let mut p = HEADER;
    let take = |p: &mut usize, n: usize| -> Result<&[u8], BadFormat> {
        let end = p.checked_add(n).filter(|&e| e <= zl.len());
        let Some(end) = end else {
            return Err(BadFormat("ziplist entry past the end"));
        };
        let bytes = &zl[*p..end];
        *p = end;
        Ok(bytes)
    };
    loop {
        let Some(&first) = zl.get(p) else {
            return bad("ziplist without end");
        };
        if first == END {
            break;
        }
        // The previous entry's length: one byte, or 0xFE and four.
        take(&mut p, if first == 0xfe { 5 } else { 1 })?;
        let encoding = take(&mut p, 1)?[0];
        let element = match encoding >> 6 {
            0 => Element::Str(take(&mut p, usize::from(encoding & 0x3f))?),
            1 => {
                let low = take(&mut p, 1)?[0];
                let len = (usize::from(encoding & 0x3f) << 8) | usize::from(low);
                Element::Str(take(&mut p, len)?)
            }
            2 if encoding == 0x80 => {
                let b = take(&mut p, 4)?;
                let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                Element::Str(take(&mut p, len)?)
            }
            2 => return bad("bad ziplist string encoding"),
            _ => Element::Int(match encoding {
                0xc0 => {
                    let b = take(&mut p, 2)?;
                    i64::from(i16::from_le_bytes([b[0], b[1]]))
                }
                0xd0 => {
                    let b = take(&mut p, 4)?;
                    i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                }
                0xe0 => {
                    let b = take(&mut p, 8)?;
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(b);
                    i64::from_le_bytes(raw)
                }
                0xf0 => {
                    let b = take(&mut p, 3)?;
                    i64::from(i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8)
                }
                0xfe => i64::from(take(&mut p, 1)?[0] as i8),
                0xf1..=0xfd => i64::from(encoding & 0x0f) - 1,
                _ => return bad("bad ziplist integer encoding"),
            }),
        };
        out.push(element);
    }
    if p + 1 != zl.len() {
        return bad("bytes after the ziplist end");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist of the given raw entries (each already encoded, without its prevlen).
    fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        for e in entries {
            body.push(prev as u8);
            body.extend_from_slice(e);
            prev = 1 + e.len();
        }
        let total = HEADER + body.len() + 1;
        let mut zl = Vec::new();
        zl.extend_from_slice(&(total as u32).to_le_bytes());
        zl.extend_from_slice(&0u32.to_le_bytes());
        zl.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(END);
        zl
    }

    #[test]
    fn reads_every_encoding() {
        let zl = ziplist(&[
            b"\x03abc",
            b"\xf1",
            b"\xfd",
            b"\xfe\x80",
            b"\xc0\x00\x80",
            b"\xf0\xff\xff\x7f",
            b"\xd0\x00\x00\x00\x80",
            b"\xe0\xff\xff\xff\xff\xff\xff\xff\x7f",
        ]);
        let got = elements(&zl).unwrap_or_default();
        assert_eq!(
            got,
            vec![
                Element::Str(b"abc"),
                Element::Int(0),
                Element::Int(12),
                Element::Int(-128),
                Element::Int(-32768),
                Element::Int(8_388_607),
                Element::Int(i64::from(i32::MIN)),
                Element::Int(i64::MAX),
            ]
        );
        let mut cut = zl.clone();
        cut.truncate(zl.len() - 3);
        assert!(elements(&cut).is_err());
    }
}
