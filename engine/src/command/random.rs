//! Random picks for HRANDFIELD, SRANDMEMBER and SPOP: a seed that differs on every call and a
//! cheap generator (xorshift64*); nothing here needs to be unpredictable to an attacker.

use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use crate::args::{int_arg, is};
use crate::error;
use crate::reply::Reply;

/// The most picks one HRANDFIELD or ZRANDMEMBER with a negative count may ask for: a reply of
/// more would exhaust memory before a byte of it is sent (Redis 7.0 is killed trying).
pub const MAX_PICKS: u64 = 1 << 26;

/// The `[count [WITHVALUES|WITHSCORES]]` of HRANDFIELD and ZRANDMEMBER (`word` names the
/// option), checked in Redis's order: the count (within +-i64::MAX), then the option, then
/// the count's smaller range with the option (the reply holds twice as many elements); and
/// Rill's own bound on repeated picks. Returns the count, if any, and whether the option
/// was given.
pub(super) fn count_and_option(args: &[Bytes], word: &str) -> Result<(Option<i64>, bool), Reply> {
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Err(e)) => return Err(e),
        Some(Ok(i64::MIN)) => {
            return Err(Reply::error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
        }
        Some(Ok(n)) => Some(n),
    };
    if args.len() > 4 || (args.len() == 4 && !is(&args[3], word)) {
        return Err(Reply::error(error::SYNTAX));
    }
    let with = args.len() == 4;
    let out_of_range = |n: i64| {
        (with && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) || n < -(MAX_PICKS as i64)
    };
    if count.is_some_and(out_of_range) {
        return Err(Reply::error("ERR value is out of range"));
    }
    Ok((count, with))
}

/// A generator seeded afresh.
pub(crate) struct Picker(u64);

impl Picker {
    /// A generator with a seed from the process's hash randomness and the clock.
    pub(crate) fn new() -> Picker {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(crate::now_ms());
        Picker(h.finish() | 1)
    }

    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        let s = &mut self.0;
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `count` distinct positions out of `len` (all of them when `count >= len`), in order.
    pub(crate) fn distinct(&mut self, len: usize, count: usize) -> Vec<usize> {
        if count >= len {
            return (0..len).collect();
        }
        let mut positions: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + (self.next() % (len - i) as u64) as usize;
            positions.swap(i, j);
        }
        let mut chosen = positions[..count].to_vec();
        chosen.sort_unstable();
        chosen
    }
}

/// The items of `items` at the sorted `positions`.
pub(crate) fn at_positions<T>(items: impl Iterator<Item = T>, positions: &[usize]) -> Vec<T> {
    let mut wanted = positions.iter().peekable();
    items
        .enumerate()
        .filter_map(|(i, item)| {
            (wanted.peek() == Some(&&i)).then(|| {
                wanted.next();
                item
            })
        })
        .collect()
}
