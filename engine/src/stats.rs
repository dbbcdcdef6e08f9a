//! Counters behind INFO: per-command calls and time, error counts by code, totals.

use std::collections::{BTreeMap, VecDeque};

/// One command's counters (`cmdstat_<name>` in INFO commandstats).
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandStat {
    /// Times it ran; rejected calls are not counted here.
    pub calls: u64,
    /// Total time spent running it, in microseconds (INFO divides by `calls` for `usec_per_call`).
    pub usec: u64,
    /// Refused before running: unknown arity, auth, a queued error...
    pub rejected_calls: u64,
    /// Ran and answered an error.
    pub failed_calls: u64,
}

impl CommandStat {
    /// Whether anything was counted (INFO lists only such commands).
    pub fn is_used(&self) -> bool {
        self.calls > 0 || self.usec > 0 || self.rejected_calls > 0 || self.failed_calls > 0
    }
}

/// Server-wide counters.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Per command, at its table entry's counter slot (`Spec::stat_slot`): every command
    /// counts here, so a plain index instead of a look-up by name. INFO shows the commands
    /// called, refused or failed since the last reset, under their table names.
    pub commands: Vec<CommandStat>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`...).
    pub errors: BTreeMap<String, u64>,
    /// Commands run, including each one EXEC runs; refused commands are not counted.
    pub total_commands_processed: u64,
    /// Every error reply, those of refused commands included.
    pub total_error_replies: u64,
    /// Connections the host accepted; embedded sessions are not connections and do not count.
    pub total_connections_received: u64,
    /// Connections refused because `maxclients` was reached.
    pub rejected_connections: u64,
    /// Keys removed because their TTL passed, by the active expiry cycle or on access (the
    /// latter are gathered from the databases when INFO or the cycle runs).
    pub expired_keys: u64,
    /// Hash fields removed because their time passed (INFO's `expired_subkeys`, Redis 7.4).
    pub expired_subkeys: u64,
    /// Read lookups that found the key (Redis's `lookupKeyRead`); lookups for writes do not count.
    pub keyspace_hits: u64,
    /// Read lookups that found no key (or an expired one).
    pub keyspace_misses: u64,
    /// Bytes read from clients, as the host reports them; embedded sessions add nothing.
    pub total_net_input_bytes: u64,
    /// Bytes written to clients, as the host reports them; embedded sessions add nothing.
    pub total_net_output_bytes: u64,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: u64,
    /// Keys removed to stay under `maxmemory` (INFO's `evicted_keys`).
    pub evicted_keys: u64,
    /// Highest `used_memory` INFO has seen (`used_memory_peak`).
    pub used_memory_peak: u64,
    /// Recent counter samples behind INFO's `instantaneous_*` rates, oldest first.
    pub samples: VecDeque<Sample>,
}

/// The counters at one moment, for rates over the last couple of seconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    /// Unix time in ms when the sample was taken.
    pub at_ms: u64,
    /// `total_commands_processed` at that moment.
    pub commands: u64,
    /// `total_net_input_bytes` at that moment.
    pub net_input: u64,
    /// `total_net_output_bytes` at that moment.
    pub net_output: u64,
}

/// Redis samples its rates every 100 ms and averages 16 samples: the same window here.
const SAMPLE_EVERY_MS: u64 = 100;
const SAMPLES_KEPT: usize = 16;

impl Stats {
    /// The counters of the command whose table entry has counter slot `slot`.
    pub fn command_mut(&mut self, slot: usize) -> &mut CommandStat {
        if slot >= self.commands.len() {
            self.commands.resize(slot + 1, CommandStat::default());
        }
        &mut self.commands[slot]
    }

    /// Counts an error reply under its code.
    pub fn count_error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        // Redis stops tracking new error codes past 128 distinct ones.
        if self.errors.len() < 128 || self.errors.contains_key(code) {
            *self.errors.entry(code.to_string()).or_default() += 1;
        }
        self.total_error_replies += 1;
    }

    /// Records the counters for the `instantaneous_*` rates; the host's cron calls it often,
    /// and samples closer than 100 ms apart are skipped.
    pub fn sample(&mut self, now_ms: u64) {
        if let Some(last) = self.samples.back() {
            if now_ms < last.at_ms + SAMPLE_EVERY_MS {
                return;
            }
        }
        if self.samples.len() == SAMPLES_KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            at_ms: now_ms,
            commands: self.total_commands_processed,
            net_input: self.total_net_input_bytes,
            net_output: self.total_net_output_bytes,
        });
    }

    /// Commands per second, input KB/s and output KB/s over the sampled window (zeros until
    /// two samples exist).
    pub fn instantaneous(&self) -> (f64, f64, f64) {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return (0.0, 0.0, 0.0);
        };
        if last.at_ms <= first.at_ms {
            return (0.0, 0.0, 0.0);
        }
        let secs = (last.at_ms - first.at_ms) as f64 / 1000.0;
        let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
        (
            rate(first.commands, last.commands),
            rate(first.net_input, last.net_input) / 1024.0,
            rate(first.net_output, last.net_output) / 1024.0,
        )
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&mut self) {
        let dirty = self.dirty;
        *self = Stats::default();
        self.dirty = dirty;
    }
}
