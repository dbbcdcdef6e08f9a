//! Commands newer than Redis 7.0 that the consumer runtime uses where the server has them
//! (XREADGROUP ... CLAIM from Redis 8.4, XNACK from 8.8; rill-server has both), falling back
//! to the Redis 7.0 path elsewhere. Whether the server has one is found out on its first use
//! (an old server refuses it without doing anything) and remembered by every clone of the
//! client, so a pool of consumers pays for the refusal once.
//!
//! What is learned is the word of the server that answered, and servers differ and change:
//! on Redis Cluster each hash slot is learned on its own (in a cluster being upgraded node by
//! node, a stream on an upgraded node uses the new commands while one on an old node falls
//! back), a refusal counts even after successes (a failover to an older replica, a server
//! replaced by an older one on the same address), and a refused command is tried again
//! after [`RETRY_REFUSED`] (a node upgraded meanwhile).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::hash_slot;

/// How long a refusal is believed before the command is tried again: one refused read or
/// XNACK a minute is nothing to pay, and an upgraded server is used within a minute.
pub(crate) const RETRY_REFUSED: Duration = Duration::from_secs(60);

/// What a client learned about its server's newer commands, per hash slot on a cluster.
#[derive(Debug)]
pub(crate) struct FeatureTable {
    /// One entry for a single server or the embedded engine, else one per hash slot.
    slots: Box<[Features]>,
}

impl FeatureTable {
    /// For a single server or the embedded engine: one server answers for every key.
    pub(crate) fn single() -> FeatureTable {
        FeatureTable::with_entries(1)
    }

    /// For Redis Cluster: the node that answers for a key depends on its hash slot.
    pub(crate) fn cluster() -> FeatureTable {
        FeatureTable::with_entries(hash_slot::SLOTS as usize)
    }

    fn with_entries(n: usize) -> FeatureTable {
        FeatureTable {
            slots: (0..n).map(|_| Features::default()).collect(),
        }
    }

    /// What is known about the server that answers for `key`.
    pub(crate) fn for_key(&self, key: &[u8]) -> &Features {
        match self.slots.len() {
            1 => &self.slots[0],
            _ => &self.slots[hash_slot::of_key(key) as usize],
        }
    }
}

/// What is known about one server.
#[derive(Debug, Default)]
pub(crate) struct Features {
    /// `XREADGROUP ... CLAIM min-idle-time` (Redis 8.4).
    pub(crate) claim_read: Support,
    /// `XNACK` (Redis 8.8).
    pub(crate) nack: Support,
}

/// Whether the server has a command: not known yet (0), yes (1), or refused at a time
/// (milliseconds since [`epoch`], plus [`REFUSED_BASE`]).
#[derive(Debug, Default)]
pub(crate) struct Support(AtomicU64);

const UNKNOWN: u64 = 0;
const YES: u64 = 1;
const REFUSED_BASE: u64 = 2;

/// The clock refusals are timed by: this process's first look at it.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now() -> Duration {
    epoch().elapsed()
}

impl Support {
    /// `false` for [`RETRY_REFUSED`] after the server refused it; `true` otherwise (worth
    /// trying).
    pub(crate) fn worth_trying(&self) -> bool {
        self.worth_trying_at(now())
    }

    fn worth_trying_at(&self, now: Duration) -> bool {
        match self.0.load(Ordering::Relaxed) {
            UNKNOWN | YES => true,
            refused => {
                let at = Duration::from_millis(refused - REFUSED_BASE);
                now.saturating_sub(at) >= RETRY_REFUSED
            }
        }
    }

    /// Books the outcome of a use: a refusal that says the server lacks the command (or the
    /// option) marks it missing; success marks it present. Returns whether `outcome` was
    /// such a refusal (nothing was done: fall back).
    pub(crate) fn learn<T>(&self, outcome: &Result<T, Error>) -> bool {
        self.learn_at(outcome, now())
    }

    fn learn_at<T>(&self, outcome: &Result<T, Error>, now: Duration) -> bool {
        match outcome {
            Ok(_) => {
                self.0.store(YES, Ordering::Relaxed);
                false
            }
            Err(e) if lacks_command(e) => {
                let refused = REFUSED_BASE + now.as_millis() as u64;
                let before = self.0.swap(refused, Ordering::Relaxed);
                // Several consumers of one client may have tried at once: say it once per
                // change of mind.
                if before < REFUSED_BASE {
                    tracing::info!("the server lacks it ({e}); using the Redis 7.0 commands");
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// An old server's answer to a command or option it does not have: `ERR unknown command`
/// for XNACK, `ERR syntax error` for XREADGROUP's CLAIM. The runtime's own commands are well
/// formed, so a syntax error means the option is missing, not a mistake.
fn lacks_command(e: &Error) -> bool {
    match e {
        Error::Server { code, message } => {
            code == "ERR"
                && (message.contains("unknown command") || message.contains("syntax error"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal() -> Result<(), Error> {
        Err(Error::Server {
            code: "ERR".into(),
            message: "unknown command 'XNACK', with args beginning with: ".into(),
        })
    }

    /// A refusal stands for a while even after successes (the server changed), and the
    /// command is tried again once the while is over.
    #[test]
    fn refusals_count_after_successes_and_expire() {
        let support = Support::default();
        let t0 = Duration::from_secs(100);
        assert!(support.worth_trying_at(t0));
        assert!(!support.learn_at(&Ok::<(), Error>(()), t0));
        assert!(support.learn_at(&refusal(), t0));
        assert!(!support.worth_trying_at(t0 + RETRY_REFUSED / 2));
        assert!(support.worth_trying_at(t0 + RETRY_REFUSED));
        assert!(!support.learn_at(&Ok::<(), Error>(()), t0 + RETRY_REFUSED));
        assert!(support.worth_trying_at(t0 + RETRY_REFUSED));
        // Another error is the command's own failure, not a missing command.
        let wrong_type = Err::<(), Error>(Error::Server {
            code: "WRONGTYPE".into(),
            message: "Operation against a key holding the wrong kind of value".into(),
        });
        assert!(!support.learn_at(&wrong_type, t0));
        assert!(support.worth_trying_at(t0));
    }

    /// On a cluster, keys in different slots are answered by servers learned apart; keys of
    /// one hash tag share what was learned.
    #[test]
    fn a_cluster_learns_each_slot_apart() {
        let table = FeatureTable::cluster();
        let t0 = Duration::from_secs(5);
        assert!(table.for_key(b"{a}:jobs").nack.learn_at(&refusal(), t0));
        assert!(!table.for_key(b"{a}:dead").nack.worth_trying_at(t0));
        assert!(table.for_key(b"{b}:jobs").nack.worth_trying_at(t0));
        let single = FeatureTable::single();
        assert!(single.for_key(b"{a}:jobs").nack.learn_at(&refusal(), t0));
        assert!(!single.for_key(b"{b}:jobs").nack.worth_trying_at(t0));
    }
}
