//! Interpolation search over stream IDs: where a sorted sequence of IDs reaches an ID.
//!
//! Stream IDs are millisecond times, close to evenly spread over any stretch of a PEL, so a
//! probe placed by proportion lands next to its target: two or three probes where halving
//! takes twenty, and each probe of a large run is a cache miss. Halving stays the floor, so
//! that IDs chosen to defeat interpolation cost little more than a binary search.

use crate::id::StreamId;

/// Interpolation probes before a search falls back to halving.
const PROBES: usize = 4;

/// A span this short is halved, not interpolated (its slots share a cache line or two).
/// Debug builds interpolate down to spans of three, so that the tests' small blocks (4
/// slots) exercise interpolation inside a run as release builds' blocks of 64 do.
const SHORT_SPAN: usize = if cfg!(debug_assertions) { 2 } else { 8 };

/// An index of a sorted sequence and the ID there.
pub type Known = (usize, StreamId);

/// The first index below `len` whose ID is not below `id` (`len` when none), of a sorted
/// sequence whose ID at an index is `id_at`.
pub fn first_not_below(len: usize, id: StreamId, id_at: impl Fn(usize) -> StreamId) -> usize {
    let Some(last) = len.checked_sub(1) else {
        return 0;
    };
    let (first_id, last_id) = (id_at(0), id_at(last));
    if id <= first_id {
        return 0;
    }
    if id > last_id {
        return len;
    }
    first_not_below_between((0, first_id), (last, last_id), id, id_at)
}

/// The first index in `low + 1 ..= high` whose ID is not below `id`, where the ID at `low`
/// is below `id` and the one at `high` is not.
pub fn first_not_below_between(
    (mut low, low_id): Known,
    (mut high, high_id): Known,
    id: StreamId,
    id_at: impl Fn(usize) -> StreamId,
) -> usize {
    let key = id_key(id);
    let (mut low_key, mut high_key) = (id_key(low_id), id_key(high_id));
    for _ in 0..PROBES {
        if high - low <= SHORT_SPAN {
            break;
        }
        let share = share(key - low_key, high_key - low_key);
        let probe = (low + (share * (high - low) as f64) as usize).clamp(low + 1, high - 1);
        let probe_key = id_key(id_at(probe));
        if probe_key < key {
            (low, low_key) = (probe, probe_key);
        } else if probe_key == key {
            return probe;
        } else {
            (high, high_key) = (probe, probe_key);
        }
    }
    let (mut low, mut high) = (low + 1, high);
    while low < high {
        let mid = low + (high - low) / 2;
        if id_at(mid) < id {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low
}

/// An ID as one number in ID order.
fn id_key(id: StreamId) -> u128 {
    (u128::from(id.ms) << 64) | u128::from(id.seq)
}

/// `part / whole` (`part <= whole`, `whole > 0`), from the top 64 bits of `whole`: a 128-bit
/// integer to float conversion is a library call, a 64-bit one an instruction.
fn share(part: u128, whole: u128) -> f64 {
    let shift = 64u32.saturating_sub(whole.leading_zeros());
    ((part >> shift) as u64) as f64 / ((whole >> shift) as u64) as f64
}
