//! Redis 7's append-only file, shared by rill-server and the embedded engine.
//!
//! A Redis 7 AOF is a directory (`appenddirname`) holding a manifest ([`manifest`]) that lists
//! one base file and the incremental files after it, each a log of RESP commands ([`log`]).
//!
//! - [`load`] reads a whole directory with Redis's rules for torn and damaged files, running
//!   each command through [`replay`].
//! - [`files`]: the open log ([`Aof`]): opened at start or by CONFIG SET, closed at shutdown.
//! - [`writer`]: the journal the engine's changes go to (see [`crate::propagate`]) and the
//!   `appendfsync` policies with group commit.
//! - [`rewrite`] (BGREWRITEAOF, automatic rewrites) writes a new [`base`] from a snapshot and
//!   swaps the manifest.

pub mod base;
pub mod files;
pub mod load;
pub mod log;
pub mod manifest;
pub mod replay;
pub mod rewrite;
pub mod writer;

use std::sync::Arc;

use parking_lot::Mutex;

pub use files::{Aof, Options};

/// The engine's persistence state: the open log, if any, and what rewrites did (kept with
/// the log off too: BGREWRITEAOF works without it, as in Redis).
#[derive(Debug)]
pub struct Persistence {
    /// The open append-only log (`appendonly yes`).
    pub log: Option<Arc<Aof>>,
    /// Rewrites, running and past; shared with the thread running one.
    pub rewrite: Arc<Mutex<rewrite::RewriteStatus>>,
    /// RDB snapshots, running and past; shared with the thread running one.
    pub save: Arc<Mutex<crate::rdb::save::SaveStatus>>,
    /// Whether the last background save failed: `save`'s own flag, read by every write
    /// without taking `save`'s lock.
    pub save_failed: Arc<std::sync::atomic::AtomicBool>,
    /// The pauses background snapshots (rewrites, BGSAVE) took.
    pub pauses: SnapshotPauses,
}

/// What INFO reports for background snapshots in the words Redis uses for its fork.
#[derive(Debug, Default, Clone, Copy)]
pub struct SnapshotPauses {
    /// Microseconds the engine was held for the last snapshot (`latest_fork_usec`).
    pub last_us: u64,
    /// Snapshots taken (`total_forks`).
    pub count: u64,
}

impl SnapshotPauses {
    /// Records a snapshot whose pause began at `started`.
    pub fn record(&mut self, started: std::time::Instant) {
        self.last_us = started.elapsed().as_micros() as u64;
        self.count += 1;
    }
}

impl Default for Persistence {
    fn default() -> Self {
        let save = crate::rdb::save::SaveStatus::new(crate::now_ms() / 1000);
        Persistence {
            log: None,
            rewrite: Arc::default(),
            save_failed: save.failure_flag(),
            save: Arc::new(Mutex::new(save)),
            pauses: SnapshotPauses::default(),
        }
    }
}

impl Persistence {
    /// Whether an automatic rewrite is due: the log grew by `auto-aof-rewrite-percentage`
    /// since the last load or rewrite and is over `auto-aof-rewrite-min-size`, or a rewrite
    /// was scheduled. Returns the growth in percent to log, or `None`.
    pub fn rewrite_due(&self, config: &crate::Config) -> Option<u64> {
        let log = self.log.as_ref()?;
        let status = self.rewrite.lock();
        if status.running_since.is_some() || status.backing_off() {
            return None;
        }
        if status.scheduled {
            return Some(0);
        }
        let percentage = config.int("auto-aof-rewrite-percentage");
        let min_size = config.int("auto-aof-rewrite-min-size");
        let size = log.current_size();
        if percentage == 0 || size <= min_size {
            return None;
        }
        let base = log.growth_base().max(1);
        let growth = size.saturating_sub(base) * 100 / base;
        (size > base && growth >= percentage).then_some(growth)
    }
}
