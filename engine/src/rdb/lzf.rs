//! LZF, the compression RDB uses for strings (`rdbcompression yes`): liblzf's format, read and
//! written. Decompression checks every length and back-reference against the buffers, so a
//! hostile payload (RESTORE is network input) can only fail, never read or write out of
//! bounds.

/// Longest literal run in one control byte.
const MAX_LITERAL: usize = 32;
/// Longest back-reference.
const MAX_REF: usize = 264;
/// Farthest a back-reference reaches.
const MAX_OFFSET: usize = 8192;
/// The largest match-finding table: 2^14 positions.
const HASH_BITS: u32 = 14;

/// Decompresses `input` into exactly `out_len` bytes; `None` when the data is not valid LZF
/// of that length.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = input.get(i..i + run)?;
            if out.len() + run > out_len {
                return None;
            }
            out.extend_from_slice(literal);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let offset = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let len = len + 2;
            if offset > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - offset;
            if offset >= len {
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping copies repeat bytes: copy one at a time.
                for k in 0..len {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Compresses `input`; `None` when the result would not be shorter than `max_len` (Redis
/// then stores the string as it is).
pub fn compress(input: &[u8], max_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(max_len);
    // The table only guides the search for matches (any table gives valid LZF): sized to
    // the input, so compressing many small strings (stream nodes) does not spend its time
    // clearing a large table for each.
    let bits = (usize::BITS - input.len().leading_zeros()).clamp(8, HASH_BITS);
    let mut table = vec![0u32; 1 << bits];
    let mut literal_start = 0;
    let mut i = 0;
    let hash = |p: usize| -> usize {
        let v = (input[p] as u32) << 16 | (input[p + 1] as u32) << 8 | input[p + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
    };
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        let mut start = from;
        while start < to {
            let run = (to - start).min(MAX_LITERAL);
            out.push((run - 1) as u8);
            out.extend_from_slice(&input[start..start + run]);
            start += run;
        }
    };
    while i + 2 < input.len() {
        let h = hash(i);
        let candidate = table[h] as usize;
        // Positions past u32 are not remembered (strings that long are not compressed
        // in one piece by Redis either; they still compress, with fewer matches).
        table[h] = u32::try_from(i + 1).unwrap_or(0);
        if candidate > 0 {
            let reference = candidate - 1;
            let offset = i - reference;
            if offset > 0
                && offset <= MAX_OFFSET
                && input[reference..reference + 3] == input[i..i + 3]
            {
                let mut len = 3;
                let max = (input.len() - i).min(MAX_REF);
                while len < max && input[reference + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, literal_start, i);
                let stored = len - 2;
                let off = offset - 1;
                if stored < 7 {
                    out.push(((stored << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((stored - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                i += len;
                literal_start = i;
                if out.len() >= max_len {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, literal_start, input.len());
    (out.len() < max_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_input() {
        let samples: [&[u8]; 4] = [
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"the quick brown fox jumps over the lazy dog; the quick brown fox again",
            &[0u8; 1000],
            b"abcabcabcabcabcabcabcabcabcabcabcabcxyzxyzxyzxyz0123456789",
        ];
        for s in samples {
            let c = compress(s, s.len()).unwrap_or_else(|| panic!("incompressible"));
            assert!(c.len() < s.len());
            assert_eq!(decompress(&c, s.len()).as_deref(), Some(s));
            // A wrong length, a truncated stream, a reference before the start: refused.
            assert_eq!(decompress(&c, s.len() + 1), None);
            assert_eq!(decompress(&c[..c.len() - 1], s.len()), None);
        }
        assert_eq!(decompress(&[0x20, 0x05], 10), None);
        assert_eq!(compress(b"abcdefgh", 8), None);
    }

    #[test]
    fn reads_liblzf_output() {
        // "aaaaaaaaaa" as liblzf writes it: literal "a", then a 9-byte back-reference of 1.
        assert_eq!(
            decompress(&[0x00, b'a', 0xe0, 0x00, 0x00], 10).as_deref(),
            Some(&b"aaaaaaaaaa"[..])
        );
    }
}
