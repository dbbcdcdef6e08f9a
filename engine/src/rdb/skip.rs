//! Values of types Rill does not hold yet (hashes, lists, sets, sorted sets, module values),
//! stepped over so that a Redis file holding them can still load the rest when the user
//! asks for it (`rdb-unsupported-types skip`). Each layout is walked as Redis writes it,
//! with every length checked; nothing is decoded or kept.

use super::encoding::{BadFormat, Reader};

/// What a user reads in the log for an RDB type: Redis's type name.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        0 => "string",
        1 | 10 | 14 | 18 => "list",
        2 | 11 | 20 => "set",
        3 | 5 | 12 | 17 => "zset",
        4 | 9 | 13 | 16 | 22..=25 => "hash",
        6 | 7 => "module",
        15 | 19 | 21 => "stream",
        _ => "unknown",
    }
}

/// Steps over a value of RDB type `kind`. A type whose layout cannot be walked (a module
/// value of the pre-release format, a type number Redis never used) is an error.
pub fn skip(r: &mut Reader<'_>, kind: u8) -> Result<(), BadFormat> {
    match kind {
        // Encoded as one string: zipmap, ziplists, intset, listpacks.
        9..=13 | 16 | 17 | 20 | 23 => r.skip_string(),
        // A list or set: n strings.
        1 | 2 => strings(r, 1),
        // A hash: n field-value pairs.
        4 => strings(r, 2),
        // A quicklist: n ziplists.
        14 => strings(r, 1),
        // A quicklist of listpacks: per node its container kind, then the node.
        18 => {
            for _ in 0..r.count(2)? {
                r.length()?;
                r.skip_string()?;
            }
            Ok(())
        }
        // A sorted set, scores as text (1 length byte; 253-255 are NaN and the infinities).
        3 => {
            for _ in 0..r.count(2)? {
                r.skip_string()?;
                let len = r.u8()?;
                if len < 253 {
                    r.bytes(len as usize)?;
                }
            }
            Ok(())
        }
        // A sorted set, scores as 8-byte doubles.
        5 => {
            for _ in 0..r.count(9)? {
                r.skip_string()?;
                r.bytes(8)?;
            }
            Ok(())
        }
        // A hash with field expiry (7.4): the earliest expiry first (24) or not (22), then
        // per field its expiry, name and value.
        22 | 24 => {
            if kind == 24 {
                r.bytes(8)?;
            }
            for _ in 0..r.count(3)? {
                r.length()?;
                r.skip_string()?;
                r.skip_string()?;
            }
            Ok(())
        }
        // The listpack form of the same, after the earliest expiry.
        25 => {
            r.bytes(8)?;
            r.skip_string()
        }
        7 => skip_module(r),
        _ => Err(BadFormat("a value type whose layout Rill cannot step over")),
    }
}

/// `n` strings, `per_item` at a time, after their count.
fn strings(r: &mut Reader<'_>, per_item: usize) -> Result<(), BadFormat> {
    for _ in 0..r.count(per_item)?.saturating_mul(per_item) {
        r.skip_string()?;
    }
    Ok(())
}

/// A module value (format 2): the module ID, then typed fields until an end marker.
fn skip_module(r: &mut Reader<'_>) -> Result<(), BadFormat> {
    r.length()?;
    loop {
        match r.length()? {
            0 => return Ok(()),
            1 | 2 => {
                r.length()?;
            }
            3 => {
                r.bytes(4)?;
            }
            4 => {
                r.bytes(8)?;
            }
            5 => r.skip_string()?,
            _ => return Err(BadFormat("unknown module field type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::encoding::{write_length, write_string};

    #[test]
    fn steps_over_each_layout_to_the_next_byte() {
        let mut cases: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut set = Vec::new();
        write_length(&mut set, 2);
        write_string(&mut set, b"a", false);
        write_string(&mut set, b"12345", false);
        cases.push((2, set));
        let mut hash = Vec::new();
        write_length(&mut hash, 1);
        write_string(&mut hash, b"field", false);
        write_string(&mut hash, &[b'x'; 200], true);
        cases.push((4, hash));
        let mut zset = Vec::new();
        write_length(&mut zset, 2);
        write_string(&mut zset, b"m", false);
        zset.extend_from_slice(&[3, b'1', b'.', b'5']);
        write_string(&mut zset, b"n", false);
        zset.push(254);
        cases.push((3, zset));
        let mut zset2 = Vec::new();
        write_length(&mut zset2, 1);
        write_string(&mut zset2, b"m", false);
        zset2.extend_from_slice(&1.5f64.to_le_bytes());
        cases.push((5, zset2));
        let mut quicklist2 = Vec::new();
        write_length(&mut quicklist2, 1);
        write_length(&mut quicklist2, 2);
        write_string(&mut quicklist2, b"listpack bytes", false);
        cases.push((18, quicklist2));
        let mut hfe = vec![0u8; 8];
        write_length(&mut hfe, 1);
        write_length(&mut hfe, 0);
        write_string(&mut hfe, b"f", false);
        write_string(&mut hfe, b"v", false);
        cases.push((24, hfe));
        let mut module = Vec::new();
        write_length(&mut module, 12345);
        write_length(&mut module, 2);
        write_length(&mut module, 7);
        write_length(&mut module, 5);
        write_string(&mut module, b"s", false);
        write_length(&mut module, 4);
        module.extend_from_slice(&[0; 8]);
        write_length(&mut module, 0);
        cases.push((7, module));
        for (kind, mut bytes) in cases {
            let len = bytes.len();
            bytes.push(0xff);
            let mut r = Reader::new(&bytes);
            assert_eq!(skip(&mut r, kind), Ok(()), "type {kind}");
            assert_eq!(r.position(), len, "type {kind}");
            // Every truncation is an error, never a panic.
            for cut in 0..len {
                assert!(
                    skip(&mut Reader::new(&bytes[..cut]), kind).is_err(),
                    "type {kind} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_huge_count_is_refused_before_looping() {
        let mut bytes = Vec::new();
        write_length(&mut bytes, u32::MAX as u64);
        assert!(skip(&mut Reader::new(&bytes), 2).is_err());
        assert!(skip(&mut Reader::new(&bytes), 6).is_err());
    }
}
