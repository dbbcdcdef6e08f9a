//! Redis Cluster's hash slots: which of the 16384 slots a key lives in, the way every node
//! computes it (CRC16-XMODEM of the key, or of its hash tag, modulo 16384).

/// Redis Cluster's number of hash slots.
pub(crate) const SLOTS: u32 = 16384;

/// The slot of `key`: of its hash tag when it has one (the bytes between the first `{` and
/// the first `}` after it, when there are some), else of the whole key.
pub(crate) fn of_key(key: &[u8]) -> u32 {
    let tag = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    of_tag(tag.unwrap_or(key))
}

/// The slot of a hash tag (or of a key without one).
pub(crate) fn of_tag(tag: &[u8]) -> u32 {
    let mut crc: u16 = 0;
    for &byte in tag {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc as u32 % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // CLUSTER KEYSLOT on Redis: foo 12182, bar 5061, 123456789 12739.
        assert_eq!(of_tag(b"foo"), 12182);
        assert_eq!(of_tag(b"bar"), 5061);
        assert_eq!(of_tag(b"123456789"), 12739);
    }

    /// Redis's hash tag rules (cluster specification): the first `{`, the first `}` after
    /// it, and only when something lies between them.
    #[test]
    fn hash_tags_pick_the_hashed_part() {
        assert_eq!(of_key(b"{foo}:orders"), of_tag(b"foo"));
        assert_eq!(of_key(b"orders:{foo}"), of_tag(b"foo"));
        assert_eq!(of_key(b"{foo}{bar}"), of_tag(b"foo"));
        assert_eq!(of_key(b"{{foo}}"), of_tag(b"{foo"));
        assert_eq!(of_key(b"{}foo"), of_tag(b"{}foo"));
        assert_eq!(of_key(b"foo{"), of_tag(b"foo{"));
        assert_eq!(of_key(b"foo"), 12182);
    }
}
