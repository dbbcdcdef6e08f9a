//! `INFO [section [section ...]]`
//!
//! What the server reports about itself, section by section, in Redis's order and with
//! Redis's field names.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Ctx;
use crate::reply::Reply;

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
pub(super) fn info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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
        "pubsub_clients" => ctx.state.pubsub.totals().3,
        "watching_clients" => watching,
        "clients_in_timeout_table" => 0,
    }
}

/// Bytes in use: what the host's counting allocator reports (rill-server), else the values'
/// own accounting (embedded engines), as `maxmemory` sees it.
pub(super) fn used_memory(ctx: &mut Ctx) -> u64 {
    let counter = ctx.state.memory_counter;
    crate::eviction::measure(ctx.state, counter)
}

fn memory_section(ctx: &mut Ctx) -> Vec<String> {
    let used = used_memory(ctx);
    let allocator = ctx.shared.host.lock().mem_allocator.unwrap_or("libc");
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
        "mem_allocator" => allocator,
        "lazyfree_pending_objects" => 0,
    }
}

fn persistence_section(ctx: &mut Ctx) -> Vec<String> {
    let log = ctx.state.persistence.log.clone();
    let rewrite = ctx.state.persistence.rewrite.lock();
    let save = ctx.state.persistence.save.lock();
    let running = rewrite
        .running_since
        .map_or(-1, |t| t.elapsed().as_secs() as i64);
    let write_status = match log.as_ref().and_then(|l| l.writer().last_error()) {
        Some(_) => "err",
        None => "ok",
    };
    let mut fields = fields! {
        "loading" => u8::from(ctx.shared.loading.load(std::sync::atomic::Ordering::Relaxed)),
        "async_loading" => 0,
        "current_cow_peak" => 0,
        "current_cow_size" => 0,
        "current_cow_size_age" => 0,
        "current_fork_perc" => "0.00",
        "current_save_keys_processed" => 0,
        "current_save_keys_total" => 0,
        "rdb_changes_since_last_save" => ctx.state.stats.dirty.saturating_sub(save.dirty_at_save),
        "rdb_bgsave_in_progress" => u8::from(save.running.is_some()),
        "rdb_last_save_time" => save.last_save,
        "rdb_last_bgsave_status" => if save.last_failed() { "err" } else { "ok" },
        "rdb_last_bgsave_time_sec" => save.last_seconds,
        "rdb_current_bgsave_time_sec" => save.running.map_or(-1, |(t, _)| t.elapsed().as_secs() as i64),
        "rdb_saves" => save.saves,
        "rdb_last_cow_size" => 0,
        "rdb_last_load_keys_expired" => save.last_load.expired,
        "rdb_last_load_keys_loaded" => save.last_load.loaded,
        "rdb_last_load_keys_skipped" => save.last_load.skipped,
        "aof_enabled" => u8::from(log.is_some()),
        "aof_rewrite_in_progress" => u8::from(rewrite.running_since.is_some()),
        "aof_rewrite_scheduled" => u8::from(rewrite.scheduled),
        "aof_last_rewrite_time_sec" => rewrite.last_seconds,
        "aof_current_rewrite_time_sec" => running,
        "aof_last_bgrewrite_status" => if rewrite.last_failed { "err" } else { "ok" },
        "aof_rewrites" => rewrite.completed,
        "aof_rewrites_consecutive_failures" => rewrite.consecutive_failures,
        "aof_last_write_status" => write_status,
        "aof_last_cow_size" => 0,
        "module_fork_in_progress" => 0,
        "module_fork_last_cow_size" => 0,
    };
    if let Some(log) = &log {
        fields.extend(fields! {
            "aof_current_size" => log.current_size(),
            "aof_base_size" => log.growth_base(),
            "aof_pending_rewrite" => u8::from(rewrite.scheduled),
            "aof_buffer_length" => log.writer().buffered(),
            "aof_pending_bio_fsync" => 0,
            "aof_delayed_fsync" => 0,
        });
    }
    fields
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
        "expired_subkeys" => s.expired_subkeys,
        "evicted_keys" => ctx.state.stats.evicted_keys,
        "evicted_clients" => 0,
        "keyspace_hits" => s.keyspace_hits,
        "keyspace_misses" => s.keyspace_misses,
        "pubsub_channels" => ctx.state.pubsub.totals().0,
        "pubsub_patterns" => ctx.state.pubsub.totals().1,
        "pubsubshard_channels" => ctx.state.pubsub.totals().2,
        "latest_fork_usec" => ctx.state.persistence.pauses.last_us,
        "total_forks" => ctx.state.persistence.pauses.count,
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
    let counted = &ctx.state.stats.commands;
    let mut commands: Vec<_> = super::table()
        .values()
        .flat_map(|spec| std::iter::once(spec).chain(&spec.subcommands))
        .filter_map(|spec| {
            let stat = counted.get(spec.stat_slot).filter(|s| s.is_used())?;
            Some((spec.name, stat))
        })
        .collect();
    commands.sort_unstable_by_key(|(name, _)| *name);
    commands
        .into_iter()
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
            "db{i}:keys={},expires={},avg_ttl={avg_ttl},subexpiry={}",
            db.len(),
            db.expires_count(),
            db.hashes_with_field_times()
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
pub(super) fn hex_id(ctx: &Ctx, purpose: &str) -> String {
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

pub(super) fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, text};
    use crate::{Engine, Session};

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
    fn human_sizes() {
        assert_eq!(super::bytes_to_human(0), "0B");
        assert_eq!(super::bytes_to_human(1023), "1023B");
        assert_eq!(super::bytes_to_human(1536), "1.50K");
        assert_eq!(super::bytes_to_human(3 << 20), "3.00M");
        assert_eq!(super::bytes_to_human(25276502016), "23.54G");
    }
}
