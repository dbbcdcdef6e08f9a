//! How lookups record access to keys, for the eviction policies and OBJECT IDLETIME/FREQ:
//! Redis's 24 bits per object, an LRU clock or LFU's minute stamp and logarithmic counter.

/// How lookups record access to a key, for the eviction policies: the LRU clock (seconds),
/// or Redis's LFU (decay time in minutes and a logarithmic counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessTracking {
    /// Record when the key was last used.
    #[default]
    Lru,
    /// Record how often it is used (`maxmemory-policy` *-lfu).
    Lfu {
        /// `lfu-log-factor`: how many hits it takes to raise the counter.
        log_factor: u32,
        /// `lfu-decay-time`: every this many minutes unused, the counter loses one.
        decay_minutes: u32,
    },
}

/// The LFU counter a new key starts with (Redis's `LFU_INIT_VAL`), so that it is not the
/// first to go.
pub(super) const LFU_INIT: u32 = 5;

/// Ticks of the LRU clock per second. Redis counts seconds; tenths tell apart keys used
/// within the same second (fewer ties among sampled keys), and 32 bits of tenths still wrap
/// only every 13 years.
pub(super) const LRU_TICKS_PER_SECOND: u64 = 10;

/// The LRU clock: tenths of a second, wrapping.
pub(super) fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / (1000 / LRU_TICKS_PER_SECOND)) as u32
}

/// Redis's LFU minute stamp: minutes, 16 bits.
pub(super) fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// The LFU counter of `access` after the decay the minutes since its stamp call for. Access
/// data written under the LRU policy reads as some LFU value, as in Redis, never as an error.
pub(super) fn lfu_decayed(access: u32, decay_minutes: u32, now_ms: u64) -> u32 {
    let stamp = (access >> 8) & 0xffff;
    let counter = access & 0xff;
    if decay_minutes == 0 {
        return counter;
    }
    // Minutes since the stamp, on a 16-bit clock that wraps.
    let elapsed = lfu_minutes(now_ms).wrapping_sub(stamp) & 0xffff;
    counter.saturating_sub(elapsed / decay_minutes)
}

/// The access data after one access.
pub(super) fn touched(access: u32, tracking: AccessTracking, now_ms: u64, draw: f64) -> u32 {
    match tracking {
        AccessTracking::Lru => lru_clock(now_ms),
        AccessTracking::Lfu {
            log_factor,
            decay_minutes,
        } => {
            let mut counter = lfu_decayed(access, decay_minutes, now_ms);
            // Logarithmic: the higher the counter, the less likely a hit raises it.
            if counter < 255 {
                let base = counter.saturating_sub(LFU_INIT) as f64;
                if draw < 1.0 / (base * f64::from(log_factor) + 1.0) {
                    counter += 1;
                }
            }
            (lfu_minutes(now_ms) << 8) | counter
        }
    }
}

/// The access data of a new key.
pub(super) fn new_access(tracking: AccessTracking, now_ms: u64) -> u32 {
    match tracking {
        AccessTracking::Lfu { .. } => (lfu_minutes(now_ms) << 8) | LFU_INIT,
        AccessTracking::Lru => lru_clock(now_ms),
    }
}

/// `set` has no clock argument; a new key's access stamp needs only second precision.
pub(super) fn now_for_new_key() -> u64 {
    crate::now_ms()
}
