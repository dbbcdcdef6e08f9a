//! `INFO [section [section ...]]`
//! `CONFIG GET parameter [parameter ...] | SET parameter value [parameter value ...] |`
//!        `RESETSTAT | REWRITE | HELP`
//! `TIME`
//! `LASTSAVE`
//! `SAVE`
//! `BGSAVE [SCHEDULE]`
//! `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`
//! `MEMORY USAGE key [SAMPLES count] | DOCTOR | HELP`
//! `FUNCTION LIST | FLUSH | STATS | KILL | HELP` (and LOAD, DELETE, DUMP, RESTORE refused)
//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO, SCRIPT (refused: no scripting)
//!
//! The server as a whole: its statistics and configuration, its clock and its life cycle.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::config::PARAMS;
use crate::error;
use crate::reply::Reply;
use crate::session::Close;

/// What scripting commands answer: Rill runs no Lua and has no function engine.
const NO_SCRIPTING: &str =
    "ERR Rill does not support scripting (EVAL, EVALSHA, FCALL, SCRIPT and FUNCTION LOAD)";

/// Table entries for INFO, TIME, CONFIG, MEMORY, SAVE, SHUTDOWN and the scripting commands. Those
/// are listed as in Redis, but Rill runs no scripts: whatever would run or load one answers an
/// error.
// The table reads best one command a line.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let srv = Group::Server;
    let sc = Group::Scripting;
    let admin: &'static [&'static str] = &["admin", "noscript", "loading", "stale"];
    let help: &'static [&'static str] = &["loading", "stale"];
    let script: &'static [&'static str] = &["noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"];
    let script_ro: &'static [&'static str] = &["readonly", "noscript", "stale", "skip_monitor", "no_mandatory_keys", "movablekeys"];
    vec![
        Spec::new("info", -1, srv, &["loading", "stale"], (0, 0, 0), "Returns information and statistics about the server.", info),
        Spec::new("time", 1, srv, &["loading", "stale", "fast"], (0, 0, 0), "Returns the server time.", time).since("2.6.0"),
        Spec::new("lastsave", 1, srv, &["loading", "stale", "fast"], (0, 0, 0), "Returns the Unix timestamp of the last successful save to disk.", lastsave),
        Spec::new("save", 1, srv, &["admin", "noscript", "no_async_loading", "no_multi"], (0, 0, 0), "Synchronously saves the database(s) to disk.", save),
        Spec::new("bgsave", -1, srv, &["admin", "noscript", "no_async_loading"], (0, 0, 0), "Asynchronously saves the database(s) to disk.", bgsave),
        Spec::new("shutdown", -1, srv, &["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"], (0, 0, 0), "Synchronously saves the database(s) to disk and shuts down the Redis server.", shutdown),
        Spec::new("config", -2, srv, &[], (0, 0, 0), "A container for server configuration commands.", container_arity)
            .since("2.0.0")
            .with_subcommands(vec![
                Spec::new("config|get", -3, srv, admin, (0, 0, 0), "Returns the effective values of configuration parameters.", config_get).since("2.0.0"),
                Spec::new("config|set", -4, srv, admin, (0, 0, 0), "Sets configuration parameters in-flight.", config_set).since("2.0.0"),
                Spec::new("config|resetstat", 2, srv, admin, (0, 0, 0), "Resets the server's statistics.", config_resetstat).since("2.0.0"),
                Spec::new("config|rewrite", 2, srv, admin, (0, 0, 0), "Persists the effective configuration to file.", config_rewrite).since("2.8.0"),
                Spec::new("config|help", 2, srv, help, (0, 0, 0), "Returns helpful text about the different subcommands.", config_help).since("5.0.0"),
            ]),
        Spec::new("memory", -2, srv, &[], (0, 0, 0), "A container for memory diagnostics commands.", container_arity)
            .since("4.0.0")
            .with_subcommands(vec![
                Spec::new("memory|usage", -3, srv, &["readonly"], (2, 2, 1), "Estimates the memory usage of a key.", memory_usage).since("4.0.0"),
                Spec::new("memory|doctor", 2, srv, &[], (0, 0, 0), "Outputs a memory problems report.", memory_doctor).since("4.0.0"),
                Spec::new("memory|help", 2, srv, help, (0, 0, 0), "Returns helpful text about the different subcommands.", memory_help).since("4.0.0"),
            ]),
        Spec::new("function", -2, sc, &[], (0, 0, 0), "A container for function commands.", container_arity)
            .since("7.0.0")
            .with_subcommands(vec![
                Spec::new("function|list", -2, sc, &["noscript"], (0, 0, 0), "Returns information about all libraries.", function_list).since("7.0.0"),
                Spec::new("function|flush", -2, sc, &["write", "noscript"], (0, 0, 0), "Deletes all libraries and functions.", function_flush).since("7.0.0"),
                Spec::new("function|stats", 2, sc, &["noscript", "allow_busy"], (0, 0, 0), "Returns information about a function during execution.", function_stats).since("7.0.0"),
                Spec::new("function|kill", 2, sc, &["noscript", "allow_busy"], (0, 0, 0), "Terminates a function during execution.", function_kill).since("7.0.0"),
                Spec::new("function|load", -3, sc, &["write", "denyoom", "noscript"], (0, 0, 0), "Creates a library.", no_scripting).since("7.0.0"),
                Spec::new("function|delete", 3, sc, &["write", "noscript"], (0, 0, 0), "Deletes a library and its functions.", no_scripting).since("7.0.0"),
                Spec::new("function|dump", 2, sc, &["noscript"], (0, 0, 0), "Dumps all libraries into a serialized binary payload.", no_scripting).since("7.0.0"),
                Spec::new("function|restore", -3, sc, &["write", "denyoom", "noscript"], (0, 0, 0), "Restores all libraries from a payload.", no_scripting).since("7.0.0"),
                Spec::new("function|help", 2, sc, help, (0, 0, 0), "Returns helpful text about the different subcommands.", function_help).since("7.0.0"),
            ]),
        Spec::new("eval", -3, sc, script, (0, 0, 0), "Executes a server-side Lua script.", no_scripting).since("2.6.0"),
        Spec::new("evalsha", -3, sc, script, (0, 0, 0), "Executes a server-side Lua script by SHA1 digest.", no_scripting).since("2.6.0"),
        Spec::new("eval_ro", -3, sc, script_ro, (0, 0, 0), "Executes a read-only server-side Lua script.", no_scripting).since("7.0.0"),
        Spec::new("evalsha_ro", -3, sc, script_ro, (0, 0, 0), "Executes a read-only server-side Lua script by SHA1 digest.", no_scripting).since("7.0.0"),
        Spec::new("fcall", -3, sc, script, (0, 0, 0), "Invokes a function.", no_scripting).since("7.0.0"),
        Spec::new("fcall_ro", -3, sc, script_ro, (0, 0, 0), "Invokes a read-only function.", no_scripting).since("7.0.0"),
        Spec::new("script", -2, sc, &["noscript"], (0, 0, 0), "A container for Lua scripts management commands.", no_scripting).since("2.6.0"),
    ]
}

fn no_scripting(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error(NO_SCRIPTING)
}

// ---------------------------------------------------------------------------------------------
// INFO

/// INFO's sections in the order Redis prints them, and whether `INFO` / `INFO default` shows
/// each (only `all` and `everything` add the command statistics).
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("cluster", true),
    ("keyspace", true),
];

/// INFO [section [section ...]]: `default`, `all` and `everything` pick groups of sections;
/// unknown names pick nothing. Sections always come out in Redis's order.
fn info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut wanted = vec![false; SECTIONS.len()];
    if args.len() == 1 {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for arg in &args[1..] {
        let arg = arg.to_ascii_lowercase();
        for (w, (name, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w |= match arg.as_slice() {
                b"default" => *default,
                b"all" | b"everything" => true,
                other => other == name.as_bytes(),
            };
        }
    }
    let mut text = String::new();
    for (i, (name, _)) in SECTIONS.iter().enumerate() {
        if !wanted[i] {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let (title, lines) = section(ctx, name);
        text.push_str("# ");
        text.push_str(title);
        text.push_str("\r\n");
        for line in lines {
            text.push_str(&line);
            text.push_str("\r\n");
        }
    }
    Reply::Verbatim(Bytes::from(text))
}

/// One INFO section: its title and its `field:value` lines.
fn section(ctx: &mut Ctx, name: &str) -> (&'static str, Vec<String>) {
    match name {
        "server" => ("Server", server_section(ctx)),
        "clients" => ("Clients", clients_section(ctx)),
        "memory" => ("Memory", memory_section(ctx)),
        "persistence" => ("Persistence", persistence_section(ctx)),
        "stats" => ("Stats", stats_section(ctx)),
        "replication" => ("Replication", replication_section(ctx)),
        "cpu" => ("CPU", cpu_section()),
        "modules" => ("Modules", Vec::new()),
        "commandstats" => ("Commandstats", commandstats_section(ctx)),
        "errorstats" => ("Errorstats", errorstats_section(ctx)),
        "cluster" => ("Cluster", vec!["cluster_enabled:0".to_string()]),
        _ => ("Keyspace", keyspace_section(ctx)),
    }
}

/// Builds `field:value` lines.
macro_rules! fields {
    ($($name:literal => $value:expr),* $(,)?) => {
        vec![$(format!("{}:{}", $name, $value)),*]
    };
}

fn server_section(ctx: &mut Ctx) -> Vec<String> {
    let host = ctx.shared.host.lock().clone();
    let uptime = ctx.shared.started.elapsed().as_secs();
    let hz = ctx.state.config.get("hz").unwrap_or("10").to_string();
    fields! {
        "redis_version" => crate::REDIS_VERSION,
        "rill_version" => env!("CARGO_PKG_VERSION"),
        "redis_git_sha1" => "00000000",
        "redis_git_dirty" => 0,
        "redis_mode" => "standalone",
        "os" => os_name(),
        "arch_bits" => usize::BITS,
        "process_id" => std::process::id(),
        "process_supervised" => "no",
        "run_id" => hex_id(ctx, "run_id"),
        "tcp_port" => host.tcp_port,
        "server_time_usec" => now_us(),
        "uptime_in_seconds" => uptime,
        "uptime_in_days" => uptime / 86400,
        "hz" => hz,
        "configured_hz" => hz,
        "executable" => host.executable,
        "config_file" => host.config_file,
        "io_threads_active" => 0,
    }
}

fn clients_section(ctx: &mut Ctx) -> Vec<String> {
    super::client::sync_self(ctx, "info");
    let clients = &ctx.state.clients;
    let watching = clients.by_id.values().filter(|c| c.watching > 0).count();
    fields! {
        "connected_clients" => clients.by_id.len(),
        "cluster_connections" => 0,
        "maxclients" => ctx.state.config.maxclients,
        "client_recent_max_input_buffer" => 0,
        "client_recent_max_output_buffer" => 0,
        "blocked_clients" => ctx.state.keyspace.blocking.count(),
        "tracking_clients" => 0,
        "pubsub_clients" => 0,
        "watching_clients" => watching,
        "clients_in_timeout_table" => 0,
    }
}

/// Bytes in use: what the host's counting allocator reports (rill-server), else the values'
/// own accounting (embedded engines), as `maxmemory` sees it.
fn used_memory(ctx: &mut Ctx) -> u64 {
    let counter = ctx.state.memory_counter;
    crate::eviction::measure(ctx.state, counter)
}

fn memory_section(ctx: &mut Ctx) -> Vec<String> {
    let used = used_memory(ctx);
    let stats = &mut ctx.state.stats;
    stats.used_memory_peak = stats.used_memory_peak.max(used);
    let peak = stats.used_memory_peak;
    let rss = proc_status_kb("/proc/self/status", "VmRSS:")
        .map(|kb| kb * 1024)
        .unwrap_or(used);
    let system = proc_status_kb("/proc/meminfo", "MemTotal:")
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    let maxmemory: u64 = ctx
        .state
        .config
        .get("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policy = ctx
        .state
        .config
        .get("maxmemory-policy")
        .unwrap_or("noeviction")
        .to_string();
    fields! {
        "used_memory" => used,
        "used_memory_human" => bytes_to_human(used),
        "used_memory_rss" => rss,
        "used_memory_rss_human" => bytes_to_human(rss),
        "used_memory_peak" => peak,
        "used_memory_peak_human" => bytes_to_human(peak),
        "used_memory_peak_perc" => format!("{:.2}%", percent(used, peak)),
        "used_memory_dataset" => used,
        "total_system_memory" => system,
        "total_system_memory_human" => bytes_to_human(system),
        "maxmemory" => maxmemory,
        "maxmemory_human" => bytes_to_human(maxmemory),
        "maxmemory_policy" => policy,
        "mem_fragmentation_ratio" => format!("{:.2}", rss as f64 / used.max(1) as f64),
        "mem_allocator" => "libc",
        "lazyfree_pending_objects" => 0,
    }
}

fn persistence_section(ctx: &mut Ctx) -> Vec<String> {
    let aof = ctx.state.config.get("appendonly") == Some("yes");
    fields! {
        "loading" => 0,
        "async_loading" => 0,
        "rdb_changes_since_last_save" => ctx.state.stats.dirty,
        "rdb_bgsave_in_progress" => 0,
        "rdb_last_save_time" => ctx.shared.started_ms / 1000,
        "rdb_last_bgsave_status" => "ok",
        "rdb_last_bgsave_time_sec" => -1,
        "rdb_current_bgsave_time_sec" => -1,
        "rdb_saves" => 0,
        "aof_enabled" => u8::from(aof),
        "aof_rewrite_in_progress" => 0,
        "aof_rewrite_scheduled" => 0,
        "aof_last_rewrite_time_sec" => -1,
        "aof_current_rewrite_time_sec" => -1,
        "aof_last_bgrewrite_status" => "ok",
        "aof_rewrites" => 0,
        "aof_last_write_status" => "ok",
    }
}

fn stats_section(ctx: &mut Ctx) -> Vec<String> {
    ctx.state.gather_lazily_expired();
    let s = &ctx.state.stats;
    let (ops, input_kbps, output_kbps) = s.instantaneous();
    fields! {
        "total_connections_received" => s.total_connections_received,
        "total_commands_processed" => s.total_commands_processed,
        "instantaneous_ops_per_sec" => ops.round() as u64,
        "total_net_input_bytes" => s.total_net_input_bytes,
        "total_net_output_bytes" => s.total_net_output_bytes,
        "instantaneous_input_kbps" => format!("{input_kbps:.2}"),
        "instantaneous_output_kbps" => format!("{output_kbps:.2}"),
        "rejected_connections" => s.rejected_connections,
        "sync_full" => 0,
        "sync_partial_ok" => 0,
        "sync_partial_err" => 0,
        "expired_keys" => s.expired_keys,
        "evicted_keys" => ctx.state.stats.evicted_keys,
        "evicted_clients" => 0,
        "keyspace_hits" => s.keyspace_hits,
        "keyspace_misses" => s.keyspace_misses,
        "pubsub_channels" => 0,
        "pubsub_patterns" => 0,
        "pubsubshard_channels" => 0,
        "latest_fork_usec" => 0,
        "total_forks" => 0,
        "unexpected_error_replies" => 0,
        "total_error_replies" => s.total_error_replies,
        "dump_payload_sanitizations" => 0,
    }
}

fn replication_section(ctx: &mut Ctx) -> Vec<String> {
    fields! {
        "role" => "master",
        "connected_slaves" => 0,
        "master_failover_state" => "no-failover",
        "master_replid" => hex_id(ctx, "master_replid"),
        "master_replid2" => "0".repeat(40),
        "master_repl_offset" => 0,
        "second_repl_offset" => -1,
        "repl_backlog_active" => 0,
        "repl_backlog_size" => 1048576,
        "repl_backlog_first_byte_offset" => 0,
        "repl_backlog_histlen" => 0,
    }
}

/// CPU time of the process (and of its waited-for children) from `/proc/self/stat`.
fn cpu_section() -> Vec<String> {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(4)
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            (f.len() == 4).then_some(f)
        })
        .unwrap_or_else(|| vec![0; 4]);
    // The kernel reports in USER_HZ, which is 100 on every Linux platform Rill builds for.
    let secs = |t: u64| format!("{:.6}", t as f64 / 100.0);
    fields! {
        "used_cpu_sys" => secs(ticks[1]),
        "used_cpu_user" => secs(ticks[0]),
        "used_cpu_sys_children" => secs(ticks[3]),
        "used_cpu_user_children" => secs(ticks[2]),
    }
}

fn commandstats_section(ctx: &mut Ctx) -> Vec<String> {
    ctx.state
        .stats
        .commands
        .iter()
        .map(|(name, s)| {
            let per_call = if s.calls == 0 {
                0.0
            } else {
                s.usec as f64 / s.calls as f64
            };
            format!(
                "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                s.calls, s.usec, s.rejected_calls, s.failed_calls
            )
        })
        .collect()
}

fn errorstats_section(ctx: &mut Ctx) -> Vec<String> {
    ctx.state
        .stats
        .errors
        .iter()
        .map(|(code, count)| format!("errorstat_{code}:count={count}"))
        .collect()
}

/// `avg_ttl` is an estimate, as in Redis: the TTLs among this many keys.
const TTL_SAMPLE_KEYS: usize = 10_000;

fn keyspace_section(ctx: &mut Ctx) -> Vec<String> {
    let now = ctx.now_ms;
    let mut lines = Vec::new();
    for (i, db) in ctx.state.keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let mut avg_ttl = 0;
        if db.expires_count() > 0 {
            let ttls: Vec<u64> = db
                .keys(now)
                .take(TTL_SAMPLE_KEYS)
                .filter_map(|k| db.expiry(k))
                .map(|at| at.saturating_sub(now))
                .collect();
            if !ttls.is_empty() {
                avg_ttl = ttls.iter().sum::<u64>() / ttls.len() as u64;
            }
        }
        lines.push(format!(
            "db{i}:keys={},expires={},avg_ttl={avg_ttl},subexpiry=0",
            db.len(),
            db.expires_count()
        ));
    }
    lines
}

/// Redis's `bytesToHuman`: `512B`, `1.50K`, `2.00M`...
fn bytes_to_human(n: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("T", 1 << 40),
        ("P", 1 << 50),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (unit, size)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map(|(_, s)| *s).unwrap_or(u64::MAX);
        if n < next {
            return format!("{:.2}{unit}", n as f64 / *size as f64);
        }
    }
    format!("{n}B")
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// A `Key:   123 kB` line of a /proc file, in kB.
fn proc_status_kb(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `Linux 6.1.0 x86_64`, as Redis prints uname; the OS name alone where /proc is missing.
fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    match (
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
    ) {
        (Some(os), Some(release)) => format!("{os} {release} {}", std::env::consts::ARCH),
        _ => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// A 40-hex-digit identifier fixed for this engine's life (run_id, master_replid).
fn hex_id(ctx: &Ctx, purpose: &str) -> String {
    let mut out = String::with_capacity(48);
    for round in 0u8..3 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (purpose, round, ctx.shared.started_ms, std::process::id()).hash(&mut h);
        std::ptr::hash(std::sync::Arc::as_ptr(ctx.shared), &mut h);
        let _ = write!(out, "{:016x}", h.finish());
    }
    out.truncate(40);
    out
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// CONFIG

/// CONFIG GET parameter [parameter ...]: every parameter matching any pattern, each once (the
/// first pattern to match it decides how its name is spelled).
fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut seen: Vec<String> = Vec::new();
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in ctx.state.config.matching(pattern) {
            let canonical = name.to_ascii_lowercase();
            if !seen.contains(&canonical) {
                seen.push(canonical);
                pairs.push((Reply::text(name), Reply::text(value)));
            }
        }
    }
    Reply::Map(pairs)
}

/// CONFIG SET parameter value [parameter value ...]: all or nothing. Names are checked first
/// (unknown, immutable, given twice: errors quote the name as given), then values are applied
/// to a copy that replaces the configuration only when every one was accepted (errors quote
/// the parameter's own name).
fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return Reply::error(error::SYNTAX);
    }
    let pairs: Vec<(&Bytes, &Bytes)> = args[2..].chunks(2).map(|p| (&p[0], &p[1])).collect();
    let failed = |given: &str, why: &str| {
        Reply::error(format!(
            "ERR CONFIG SET failed (possibly related to argument '{given}') - {why}"
        ))
    };
    let mut names: Vec<&'static str> = Vec::new();
    for (name, _) in &pairs {
        let given = String::from_utf8_lossy(name);
        let lower = given.to_ascii_lowercase();
        let Some(param) = PARAMS.iter().find(|p| p.name == lower) else {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{given}'"
            ));
        };
        if !param.mutable {
            return failed(&given, "can't set immutable config");
        }
        if names.contains(&param.name) {
            return failed(&given, "duplicate parameter");
        }
        names.push(param.name);
    }
    let mut config = ctx.state.config.clone();
    let host_check = ctx.shared.host.lock().config_check;
    for ((_, value), name) in pairs.iter().zip(&names) {
        let value = String::from_utf8_lossy(value);
        if let Err(why) = config.set(name, &value, false) {
            return Reply::error(format!("ERR {why}"));
        }
        let stored = config.get(name).unwrap_or_default();
        if let Some(Err(why)) = host_check.map(|check| check(name, stored)) {
            return failed(name, &why);
        }
    }
    ctx.state.config = config;
    ctx.state.apply_eviction_policy();
    Reply::ok()
}

fn config_resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.state.stats.reset();
    Reply::ok()
}

/// CONFIG REWRITE: Rill does not yet write configuration files back.
fn config_rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.shared.host.lock().config_file.is_empty() {
        Reply::error("ERR The server is running without a config file")
    } else {
        Reply::error("ERR Rewriting config file: not supported by Rill")
    }
}

fn config_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// TIME, LASTSAVE, SAVE, BGSAVE, SHUTDOWN

/// TIME: seconds and microseconds, as two bulk strings.
fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let us = now_us();
    Reply::Array(vec![
        Reply::text((us / 1_000_000).to_string()),
        Reply::text((us % 1_000_000).to_string()),
    ])
}

/// LASTSAVE: with nothing ever saved, Redis answers its start time; so does Rill.
fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer((ctx.shared.started_ms / 1000) as i64)
}

fn save(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error("ERR SAVE is not supported: Rill has no snapshot persistence")
}

fn bgsave(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "schedule")) {
        return Reply::error(error::SYNTAX);
    }
    Reply::error("ERR BGSAVE is not supported: Rill has no snapshot persistence")
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the session closes at once and the host's
/// shutdown hook runs (the server stops accepting, finishes in-flight replies and flushes its
/// log). Rill never has a shutdown in progress for ABORT to cancel.
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut save, mut nosave, mut now, mut abort, mut force) = (false, false, false, false, false);
    for arg in &args[1..] {
        let flag = if is(arg, "nosave") {
            &mut nosave
        } else if is(arg, "save") {
            &mut save
        } else if is(arg, "now") {
            &mut now
        } else if is(arg, "force") {
            &mut force
        } else if is(arg, "abort") {
            &mut abort
        } else {
            return Reply::error(error::SYNTAX);
        };
        *flag = true;
    }
    if (abort && (save || nosave || now || force)) || (save && nosave) {
        return Reply::error(error::SYNTAX);
    }
    if abort {
        return Reply::error("ERR No shutdown in progress.");
    }
    if !now && ctx.session.in_exec {
        return Reply::error(
            "ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client",
        );
    }
    ctx.state.clients.shutdown_requested = true;
    ctx.session.close = Close::Now;
    // Never written to a socket (the connection closes without a reply); an embedding program
    // sees it.
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// MEMORY

/// Bookkeeping per key beyond key and value bytes (table entry, expiry slot, scan order), the
/// same estimate the keyspace uses for INFO's `used_memory`.
const KEY_OVERHEAD: usize = 64;

/// MEMORY USAGE key [SAMPLES count]: Rill accounts values exactly, so SAMPLES is checked but
/// changes nothing.
fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            match int_arg(&args[i + 1]) {
                Err(e) => return e,
                Ok(n) if n < 0 => return Reply::error(error::SYNTAX),
                Ok(_) => {}
            }
            i += 2;
        } else {
            return Reply::error(error::SYNTAX);
        }
    }
    let now = ctx.now_ms;
    let key = &args[2];
    match ctx.db().get(key, now) {
        Some(value) => Reply::Integer((key.len() + value.heap_bytes() + KEY_OVERHEAD) as i64),
        None => Reply::Null,
    }
}

/// Below this much data, Redis's doctor declines to diagnose anything.
const DOCTOR_MIN_BYTES: u64 = 5 * 1024 * 1024;

fn memory_doctor(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let text = if used_memory(ctx) < DOCTOR_MIN_BYTES {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    Reply::Verbatim(Bytes::from_static(text.as_bytes()))
}

fn memory_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// FUNCTION

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: there are never any libraries.
fn function_list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut with_code, mut library) = (false, false);
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(&args[i], "withcode") {
            with_code = true;
        } else if !library && is(&args[i], "libraryname") {
            if i + 1 >= args.len() {
                return Reply::error("ERR library name argument was not given");
            }
            library = true;
            i += 1;
        } else {
            return Reply::error(format!(
                "ERR Unknown argument {}",
                error::printable(&args[i], 128)
            ));
        }
        i += 1;
    }
    Reply::Array(Vec::new())
}

/// FUNCTION FLUSH [ASYNC|SYNC]: nothing to delete.
fn function_flush(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            error::printable(&args[1], 128)
        ));
    }
    if args.len() == 3 && !is(&args[2], "sync") && !is(&args[2], "async") {
        return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    Reply::ok()
}

/// FUNCTION STATS: nothing running, and no engines.
fn function_stats(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Map(vec![
        (Reply::text("running_script"), Reply::Null),
        (Reply::text("engines"), Reply::Map(Vec::new())),
    ])
}

fn function_kill(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error("NOTBUSY No scripts in execution right now.")
}

fn function_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "function",
        &[
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries (Rill has none).",
            "STATS",
            "    Return information about the current function running (never any in Rill).",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::{Close, Engine, Reply, Session};

    use crate::test_support::{run, text};

    fn titles(info: &str) -> Vec<&str> {
        info.split("\r\n").filter(|l| l.starts_with("# ")).collect()
    }

    #[test]
    fn info_default_sections_in_order() {
        let mut s = Engine::new().session();
        let info = text(run(&mut s, &["INFO"]));
        assert!(info.starts_with("# Server\r\nredis_version:7.4.0\r\n"));
        assert_eq!(
            titles(&info),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        // Sections are separated by one blank line and the text ends with the last field line.
        assert!(info.contains("io_threads_active:0\r\n\r\n# Clients\r\n"));
        assert!(info.ends_with("# Keyspace\r\n"));
        for field in [
            "redis_mode:standalone",
            "arch_bits:64",
            "connected_clients:1",
            "maxclients:10000",
            "maxmemory_policy:noeviction",
            "loading:0",
            "aof_enabled:0",
            "role:master",
            "connected_slaves:0",
            "cluster_enabled:0",
            "rejected_connections:0",
        ] {
            assert!(info.contains(&format!("\r\n{field}\r\n")), "{field}");
        }
        let all = text(run(&mut s, &["INFO", "everything"]));
        assert!(titles(&all).contains(&"# Commandstats"));
        assert_eq!(text(run(&mut s, &["INFO", "nosuch"])), "");
        assert_eq!(
            text(run(&mut s, &["INFO", "KEYSPACE", "cluster"])),
            "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n"
        );
    }

    #[test]
    fn info_counts_commands_errors_and_keys() {
        let mut s = Engine::new().session();
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        run(&mut s, &["XLEN"]);
        let stats = text(run(&mut s, &["INFO", "commandstats"]));
        assert!(stats.contains("\r\ncmdstat_xadd:calls=2,usec="), "{stats}");
        assert!(
            stats.contains(",rejected_calls=0,failed_calls=1\r\n"),
            "{stats}"
        );
        assert!(stats.contains(
            "cmdstat_xlen:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
        ));
        assert_eq!(
            text(run(&mut s, &["INFO", "errorstats"])),
            "# Errorstats\r\nerrorstat_ERR:count=2\r\n"
        );
        assert_eq!(
            text(run(&mut s, &["INFO", "keyspace"])),
            "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0,subexpiry=0\r\n"
        );
        let info = text(run(&mut s, &["INFO", "stats", "persistence"]));
        assert!(info.contains("\r\ntotal_error_replies:2\r\n"));
        assert!(info.contains("\r\nrdb_changes_since_last_save:1\r\n"));
    }

    #[test]
    fn info_memory_tracks_data() {
        let mut s = Engine::new().session();
        let used = |s: &mut Session| -> u64 {
            let info = text(run(s, &["INFO", "memory"]));
            info.lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let before = used(&mut s);
        for i in 0..100 {
            run(&mut s, &["XADD", "s", "*", "field", &format!("value-{i}")]);
        }
        assert!(used(&mut s) > before);
        let info = text(run(&mut s, &["INFO", "memory"]));
        assert!(info.contains("\r\nused_memory_peak:") && info.contains("\r\nmaxmemory:0\r\n"));
    }

    #[test]
    fn config_get_and_set() {
        let mut s = Engine::new().session();
        assert_eq!(
            run(&mut s, &["CONFIG", "GET", "maxmemory"]),
            Reply::Map(vec![(Reply::text("maxmemory"), Reply::text("0"))])
        );
        // Each matching parameter once, whatever patterns matched it.
        match run(
            &mut s,
            &["CONFIG", "GET", "maxmemory*", "maxmemory", "nomatch"],
        ) {
            Reply::Map(pairs) => assert_eq!(pairs.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            run(&mut s, &["CONFIG", "SET", "hz", "20", "MAXMEMORY", "1mb"]),
            Reply::ok()
        );
        assert_eq!(
            run(&mut s, &["CONFIG", "GET", "hz", "maxmemory"]),
            Reply::Map(vec![
                (Reply::text("hz"), Reply::text("20")),
                (Reply::text("maxmemory"), Reply::text("1048576")),
            ])
        );
    }

    #[test]
    fn config_set_is_all_or_nothing() {
        let mut s = Engine::new().session();
        for (args, error) in [
            (vec!["hz", "5", "hz"], "ERR syntax error"),
            (vec!["foo", "1"], "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"),
            (vec!["hz", "5", "HZ", "6"], "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"),
            (vec!["DAEMONIZE", "yes"], "ERR CONFIG SET failed (possibly related to argument 'DAEMONIZE') - can't set immutable config"),
            (vec!["hz", "5", "maxmemory", "x"], "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
            (vec!["HZ", "abc"], "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"),
            (vec!["appendonly", "maybe"], "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"),
        ] {
            let mut words = vec!["CONFIG", "SET"];
            words.extend(args);
            assert_eq!(run(&mut s, &words), Reply::error(error), "{words:?}");
        }
        // hz was valid in two of the refused commands, and still did not change.
        assert_eq!(
            run(&mut s, &["CONFIG", "GET", "hz"]),
            Reply::Map(vec![(Reply::text("hz"), Reply::text("10"))])
        );
    }

    #[test]
    fn config_resetstat_rewrite_help() {
        let mut s = Engine::new().session();
        run(&mut s, &["XLEN"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["CONFIG", "RESETSTAT"]), Reply::ok());
        let info = text(run(&mut s, &["INFO", "stats", "errorstats"]));
        // The RESETSTAT itself is counted once it has run.
        assert!(
            info.contains("\r\ntotal_commands_processed:1\r\n"),
            "{info}"
        );
        assert!(info.contains("\r\ntotal_error_replies:0\r\n"));
        assert!(info.ends_with("# Errorstats\r\n"));
        assert_eq!(
            run(&mut s, &["CONFIG", "REWRITE"]),
            Reply::error("ERR The server is running without a config file")
        );
        assert!(matches!(run(&mut s, &["CONFIG", "HELP"]), Reply::Array(l) if l.len() == 11));
    }

    #[test]
    fn time_and_lastsave() {
        let mut s = Engine::new().session();
        let now = crate::now_ms() / 1000;
        match run(&mut s, &["TIME"]) {
            Reply::Array(parts) => {
                let secs: u64 = text(parts[0].clone()).parse().unwrap_or(0);
                let micros: u64 = text(parts[1].clone()).parse().unwrap_or(u64::MAX);
                assert!(secs >= now && secs <= now + 2);
                assert!(micros < 1_000_000);
            }
            other => panic!("{other:?}"),
        }
        match run(&mut s, &["LASTSAVE"]) {
            Reply::Integer(t) => assert!((t as u64) <= now + 1 && t as u64 + 5 >= now),
            other => panic!("{other:?}"),
        }
        assert!(run(&mut s, &["SAVE"]).is_error());
        assert!(run(&mut s, &["BGSAVE", "SCHEDULE"]).is_error());
        assert_eq!(
            run(&mut s, &["BGSAVE", "x"]),
            Reply::error("ERR syntax error")
        );
    }

    #[test]
    fn shutdown_calls_the_hook() {
        let engine = Engine::new();
        let called = Arc::new(AtomicBool::new(false));
        let flag = called.clone();
        engine.on_shutdown(Arc::new(move || flag.store(true, Ordering::SeqCst)));
        let mut s = engine.session();
        assert_eq!(
            run(&mut s, &["SHUTDOWN", "FOO"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(
            run(&mut s, &["SHUTDOWN", "NOSAVE", "SAVE"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(
            run(&mut s, &["SHUTDOWN", "ABORT", "NOW"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(
            run(&mut s, &["SHUTDOWN", "ABORT"]),
            Reply::error("ERR No shutdown in progress.")
        );
        assert!(!called.load(Ordering::SeqCst));
        assert_eq!(s.close_requested(), Close::No);
        run(&mut s, &["SHUTDOWN", "NOSAVE", "NOW"]);
        assert_eq!(s.close_requested(), Close::Now);
        assert!(called.load(Ordering::SeqCst));
    }

    #[test]
    fn memory_usage_and_doctor() {
        let mut s = Engine::new().session();
        run(&mut s, &["XADD", "s", "1-1", "field", "value"]);
        let small = match run(&mut s, &["MEMORY", "USAGE", "s"]) {
            Reply::Integer(n) => n,
            other => panic!("{other:?}"),
        };
        assert!(small > 0);
        for i in 2..200 {
            run(&mut s, &["XADD", "s", &format!("1-{i}"), "field", "value"]);
        }
        match run(&mut s, &["MEMORY", "USAGE", "s", "SAMPLES", "0"]) {
            Reply::Integer(n) => assert!(n > small),
            other => panic!("{other:?}"),
        }
        assert_eq!(run(&mut s, &["MEMORY", "USAGE", "nokey"]), Reply::Null);
        assert_eq!(
            run(&mut s, &["MEMORY", "USAGE", "s", "SAMPLES", "x"]),
            Reply::error("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut s, &["MEMORY", "USAGE", "s", "SAMPLES", "-1"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(
            run(&mut s, &["MEMORY", "USAGE", "s", "FOO", "1"]),
            Reply::error("ERR syntax error")
        );
        assert!(
            text(run(&mut s, &["MEMORY", "DOCTOR"])).starts_with("Hi Sam, this instance is empty")
        );
    }

    #[test]
    fn scripting_is_refused_and_functions_are_empty() {
        let mut s = Engine::new().session();
        for words in [
            vec!["EVAL", "return 1", "0"],
            vec!["EVALSHA_RO", "abc", "0"],
            vec!["FCALL", "f", "0"],
            vec!["SCRIPT", "FLUSH"],
            vec!["FUNCTION", "LOAD", "code"],
        ] {
            assert_eq!(run(&mut s, &words), Reply::error(super::NO_SCRIPTING));
        }
        assert_eq!(run(&mut s, &["FUNCTION", "LIST"]), Reply::Array(Vec::new()));
        assert_eq!(
            run(&mut s, &["FUNCTION", "LIST", "x"]),
            Reply::error("ERR Unknown argument x")
        );
        assert_eq!(
            run(&mut s, &["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME"]),
            Reply::error("ERR library name argument was not given")
        );
        assert_eq!(run(&mut s, &["FUNCTION", "FLUSH", "ASYNC"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["FUNCTION", "FLUSH", "x"]),
            Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        );
        assert_eq!(
            run(&mut s, &["FUNCTION", "KILL"]),
            Reply::error("NOTBUSY No scripts in execution right now.")
        );
        assert_eq!(
            run(&mut s, &["FUNCTION", "STATS"]),
            Reply::Map(vec![
                (Reply::text("running_script"), Reply::Null),
                (Reply::text("engines"), Reply::Map(Vec::new())),
            ])
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(super::bytes_to_human(0), "0B");
        assert_eq!(super::bytes_to_human(1023), "1023B");
        assert_eq!(super::bytes_to_human(1536), "1.50K");
        assert_eq!(super::bytes_to_human(3 << 20), "3.00M");
        assert_eq!(super::bytes_to_human(25276502016), "23.54G");
    }
}
