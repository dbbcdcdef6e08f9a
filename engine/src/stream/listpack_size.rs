//! How many bytes Redis's listpack encoding would take for a node's contents.
//!
//! Rill stores nodes in its own, denser format, but decides where a node ends by the size the
//! same entries would have in a Redis listpack. That keeps node boundaries identical to Redis,
//! and with them `XADD ... MAXLEN ~`, `XTRIM ~` (which only remove whole nodes) and
//! `XINFO STREAM`'s `radix-tree-keys`.

/// Bytes of the listpack header (total bytes + element count) and its end marker.
pub const LISTPACK_OVERHEAD: usize = 6 + 1;

/// Size of an integer element: encoding plus its one-byte back-length.
pub fn int_element(v: i64) -> usize {
    let encoded = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        5
    } else {
        9
    };
    encoded + 1
}

/// Size of a string element; strings that read as integers are stored as integers.
pub fn str_element(s: &[u8]) -> usize {
    if let Some(v) = crate::args::parse_i64_strict(s) {
        return int_element(v);
    }
    let len = s.len();
    let encoded = if len <= 63 {
        1 + len
    } else if len <= 4095 {
        2 + len
    } else {
        5 + len
    };
    encoded + backlen(encoded)
}

fn backlen(encoded: usize) -> usize {
    if encoded <= 127 {
        1
    } else if encoded < 16383 {
        2
    } else if encoded < 2_097_151 {
        3
    } else if encoded < 268_435_455 {
        4
    } else {
        5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(int_element(0), 2);
        assert_eq!(int_element(128), 3);
        assert_eq!(str_element(b"v"), 3);
        assert_eq!(str_element(b"12"), 2);
        assert_eq!(str_element(&[b'x'; 64]), 67);
    }
}
