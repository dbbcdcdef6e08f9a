//! `maxmemory`: before a command runs, keys are evicted by `maxmemory-policy` until memory is
//! under the limit; a command that may grow memory (`denyoom`) is refused with Redis's OOM
//! error when nothing more can go. This is Redis's `performEvictions` and the check in
//! `processCommand`.
//!
//! Memory is what the host's counting allocator reports (rill-server: every byte the process
//! holds, as Redis's zmalloc), or for an embedded engine the values' own accounting, refreshed
//! at most every [`ESTIMATE_TTL`] since it walks every key.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::keyspace::AccessTracking;
use crate::State;

/// Redis's error for a `denyoom` command over `maxmemory`.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// How long an embedded engine reuses its memory estimate.
pub const ESTIMATE_TTL: Duration = Duration::from_millis(100);

/// Most keys one command's eviction may remove, so a command never stalls for long (Redis
/// bounds the time instead: `maxmemory-eviction-tenacity`); the next command goes on.
const MAX_EVICTIONS_PER_CALL: usize = 10_000;

/// How far a volatile policy walks SCAN order from a random point to meet a key with a TTL.
const VOLATILE_REACH: usize = 256;

/// What `maxmemory-policy` says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Evict nothing: refuse `denyoom` commands.
    NoEviction,
    /// Choose among every key (`true`) or only keys with a TTL, by `Pick`.
    Evict {
        /// allkeys-* (true) or volatile-* (false).
        all_keys: bool,
        /// How the victim is chosen.
        pick: Pick,
    },
}

/// How a victim is chosen among sampled keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The least recently used.
    Lru,
    /// The least frequently used.
    Lfu,
    /// Any.
    Random,
    /// The one whose TTL ends first (volatile only).
    Ttl,
}

impl Policy {
    /// Parses a `maxmemory-policy` value (already validated by CONFIG).
    pub fn from_config(name: &str) -> Policy {
        let (all_keys, pick) = match name {
            "allkeys-lru" => (true, Pick::Lru),
            "allkeys-lfu" => (true, Pick::Lfu),
            "allkeys-random" => (true, Pick::Random),
            "volatile-lru" => (false, Pick::Lru),
            "volatile-lfu" => (false, Pick::Lfu),
            "volatile-random" => (false, Pick::Random),
            "volatile-ttl" => (false, Pick::Ttl),
            _ => return Policy::NoEviction,
        };
        Policy::Evict { all_keys, pick }
    }
}

/// The cached memory estimate of an embedded engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Estimate {
    bytes: u64,
    at: Option<Instant>,
}

/// Bytes in use now: the counting allocator's figure when the host has one, else the
/// (cached) estimate.
pub fn used_memory(state: &mut State, counter: Option<fn() -> u64>) -> u64 {
    estimate(state, counter, false)
}

/// Like [`used_memory`], with the estimate recomputed (INFO must show the current figure).
pub fn measure(state: &mut State, counter: Option<fn() -> u64>) -> u64 {
    estimate(state, counter, true)
}

fn estimate(state: &mut State, counter: Option<fn() -> u64>, recompute: bool) -> u64 {
    if let Some(count) = counter {
        return count();
    }
    let fresh = state
        .memory_estimate
        .at
        .is_some_and(|at| at.elapsed() < ESTIMATE_TTL);
    if recompute || !fresh {
        let bytes = state
            .keyspace
            .dbs
            .iter()
            .map(|db| db.heap_bytes() as u64)
            .sum();
        state.memory_estimate = Estimate {
            bytes,
            at: Some(Instant::now()),
        };
    }
    state.memory_estimate.bytes
}

/// Keeps an embedded engine's cached estimate honest after a write: a command that may grow
/// memory (`denyoom`) adds what it could have added (its arguments and a key's overhead), so
/// a burst of writes between two measurements cannot go far past `maxmemory`; any other write
/// (DEL, XTRIM, FLUSHALL...) may have freed memory, so the next check measures again.
pub fn note_write(state: &mut State, text_len: usize, may_grow: bool) {
    if state.memory_counter.is_some() {
        return;
    }
    if may_grow {
        let added = text_len + 64;
        state.memory_estimate.bytes += added as u64;
    } else {
        state.memory_estimate.at = None;
    }
}

/// Evicts keys until memory is under `maxmemory` (or there is no limit). Returns false when
/// memory is still over the limit: nothing more may go under the policy.
pub fn make_room(state: &mut State, counter: Option<fn() -> u64>, now_ms: u64) -> bool {
    let limit = state.config.maxmemory;
    if limit == 0 {
        return true;
    }
    if used_memory(state, counter) <= limit {
        return true;
    }
    let policy = Policy::from_config(state.config.eviction_policy());
    let Policy::Evict { all_keys, pick } = policy else {
        return false;
    };
    // CLIENT PAUSE freezes the dataset: nothing is evicted meanwhile, as in Redis.
    if state.clients.pause_at(now_ms).is_some() {
        return false;
    }
    let samples = state.config.int("maxmemory-samples").max(1) as usize;
    for _ in 0..MAX_EVICTIONS_PER_CALL {
        let Some((db, key)) = choose_victim(state, all_keys, pick, samples, now_ms) else {
            return false;
        };
        let freed = state.keyspace.dbs[db]
            .remove(&key)
            .map(|v| v.heap_bytes() as u64 + key.len() as u64 + 64)
            .unwrap_or(0);
        // Watchers' transactions fail and blocked readers are told, as for DEL; the journal
        // logs it as one.
        state.keyspace.touch(db, &key);
        state
            .propagation
            .push(db, vec![Bytes::from_static(b"DEL"), key.clone()]);
        state.stats.evicted_keys += 1;
        crate::notify::publish(state, db, crate::notify::EVICTED, "evicted", &key);
        if counter.is_none() {
            let estimate = &mut state.memory_estimate;
            estimate.bytes = estimate.bytes.saturating_sub(freed);
        }
        if used_memory(state, counter) <= limit {
            return true;
        }
    }
    used_memory(state, counter) <= limit
}

/// A random 64-bit number from the engine's generator.
fn random(state: &mut State) -> u64 {
    let x = &mut state.eviction_rng;
    if *x == 0 {
        *x = 0x2545_F491_4F6C_DD1D ^ crate::now_ms();
    }
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Samples keys across the databases and returns the best victim under the policy.
fn choose_victim(
    state: &mut State,
    all_keys: bool,
    pick: Pick,
    samples: usize,
    now_ms: u64,
) -> Option<(usize, Bytes)> {
    let mut best: Option<(u64, usize, Bytes)> = None;
    for db in 0..state.keyspace.dbs.len() {
        let (empty, volatile) = {
            let d = &state.keyspace.dbs[db];
            (d.is_empty(), d.expires_count())
        };
        if empty || (!all_keys && volatile == 0) {
            continue;
        }
        if pick == Pick::Ttl {
            // The key that expires first is known exactly; no sampling needed.
            if let Some((at, key)) = state.keyspace.dbs[db].soonest_expiring() {
                let score = u64::MAX - at;
                if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                    best = Some((score, db, key));
                }
            }
            continue;
        }
        let rounds = if pick == Pick::Random { 1 } else { samples };
        for _ in 0..rounds {
            let seed = random(state);
            let d = &state.keyspace.dbs[db];
            let key = if all_keys {
                d.any_key(seed)
            } else {
                // Keys with a TTL may be rare among the others: when a walk from a random
                // point meets none, the soonest to expire stands in.
                d.any_volatile_key(seed, VOLATILE_REACH)
                    .or_else(|| d.soonest_expiring().map(|(_, k)| k))
            };
            let Some(key) = key else { continue };
            let score = match pick {
                Pick::Random => 0,
                Pick::Lru => d.eviction_score(&key, false, now_ms).unwrap_or(0),
                Pick::Lfu => d.eviction_score(&key, true, now_ms).unwrap_or(0),
                Pick::Ttl => 0,
            };
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, db, key));
            }
        }
        if pick == Pick::Random && best.is_some() {
            break;
        }
    }
    best.map(|(_, db, key)| (db, key))
}

/// How lookups must record access under the current policy (LFU data for *-lfu, the LRU
/// clock otherwise, which also serves OBJECT IDLETIME).
pub fn tracking_for(state: &State) -> AccessTracking {
    match Policy::from_config(state.config.eviction_policy()) {
        Policy::Evict {
            pick: Pick::Lfu, ..
        } => AccessTracking::Lfu {
            log_factor: state.config.int("lfu-log-factor") as u32,
            decay_minutes: state.config.int("lfu-decay-time") as u32,
        },
        _ => AccessTracking::Lru,
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::run;
    use crate::{Config, Engine, Reply};

    fn engine(maxmemory: &str, policy: &str) -> Engine {
        let mut config = Config::default();
        assert!(config.set("maxmemory", maxmemory, true).is_ok());
        assert!(config.set("maxmemory-policy", policy, true).is_ok());
        Engine::with_config(config)
    }

    #[test]
    fn an_embedded_engine_evicts_by_its_own_accounting() {
        let mut s = engine("100kb", "allkeys-random").session();
        let value = "v".repeat(1000);
        for i in 0..1000 {
            assert_eq!(run(&mut s, &["SET", &format!("k{i}"), &value]), Reply::ok());
        }
        let Reply::Integer(keys) = run(&mut s, &["DBSIZE"]) else {
            panic!("DBSIZE")
        };
        assert!(
            (50..=110).contains(&keys),
            "{keys} keys of 1 KB under 100kb"
        );
    }

    #[test]
    fn noeviction_refuses_denyoom_commands_only() {
        let mut s = engine("10kb", "noeviction").session();
        let value = "v".repeat(1000);
        let mut refused = 0;
        for i in 0..50 {
            if run(&mut s, &["SET", &format!("k{i}"), &value]).is_error() {
                refused += 1;
            }
        }
        assert!(refused > 30, "{refused}");
        assert_eq!(
            run(&mut s, &["XADD", "s", "*", "f", "v"]),
            Reply::error(super::OOM)
        );
        assert!(!run(&mut s, &["GET", "k0"]).is_error());
        assert_eq!(run(&mut s, &["FLUSHALL"]), Reply::ok());
        assert_eq!(run(&mut s, &["SET", "k", "v"]), Reply::ok());
    }
}
