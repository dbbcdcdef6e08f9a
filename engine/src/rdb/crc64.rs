//! CRC-64 as Redis computes it (Jones polynomial, reflected, initial value 0): the trailer of
//! RDB files and of DUMP payloads.

/// The Jones polynomial, reflected.
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// A byte-at-a-time table, built at compile time.
const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Continues `crc` over `data` (start with 0).
pub fn update(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The CRC-64 of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_redis_s_check_value() {
        // Redis's crc64 self-test: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca.
        assert_eq!(super::crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }
}
