//! Counters behind INFO: per-command calls and time, error counts by code, totals.

use std::collections::BTreeMap;

/// One command's counters (`cmdstat_<name>` in INFO commandstats).
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    /// Refused before running: unknown arity, auth, a queued error...
    pub rejected_calls: u64,
    /// Ran and answered an error.
    pub failed_calls: u64,
}

/// Server-wide counters.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub commands: BTreeMap<&'static str, CommandStat>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`...).
    pub errors: BTreeMap<String, u64>,
    pub total_commands_processed: u64,
    pub total_error_replies: u64,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
}

impl Stats {
    /// Counts an error reply under its code.
    pub fn count_error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        // Redis stops tracking new error codes past 128 distinct ones.
        if self.errors.len() < 128 || self.errors.contains_key(code) {
            *self.errors.entry(code.to_string()).or_default() += 1;
        }
        self.total_error_replies += 1;
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&mut self) {
        let dirty = self.dirty;
        *self = Stats::default();
        self.dirty = dirty;
    }
}
