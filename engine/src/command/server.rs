//! `CONFIG GET parameter [parameter ...] | SET parameter value [parameter value ...] |`
//!        `RESETSTAT | REWRITE | HELP`
//! `TIME`
//! `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`
//! `MEMORY USAGE key [SAMPLES count] | DOCTOR | HELP`
//! `FUNCTION LIST | FLUSH | STATS | KILL | HELP` (and LOAD, DELETE, DUMP, RESTORE refused)
//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO, SCRIPT (refused: no scripting)
//!
//! The server as a whole: its statistics and configuration, its clock and its life cycle.

use bytes::Bytes;

use super::info::{info, now_us, used_memory};
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
        let lower = crate::config::canonical(&lower);
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
    if let Err(why) = apply_persistence(ctx, &config) {
        return failed("appendonly", &why);
    }
    ctx.state.config = config;
    ctx.state.apply_eviction_policy();
    Reply::ok()
}

/// Turns the append-only log on or off, or changes how it syncs, when CONFIG SET changed
/// `appendonly` or `appendfsync` (Redis: turning it on starts a rewrite, whose base the log
/// continues from).
fn apply_persistence(ctx: &mut Ctx, config: &crate::Config) -> Result<(), String> {
    use crate::aof::{writer::Fsync, Aof, Options};
    let wanted = config.get("appendonly") == Some("yes");
    match (&ctx.state.persistence.log, wanted) {
        (None, true) => Aof::enable(ctx.state, &Options::from_config(config))?,
        (Some(_), false) => Aof::disable(ctx.state),
        _ => {}
    }
    if let Some(log) = &ctx.state.persistence.log {
        let policy = Fsync::from_config(config.get("appendfsync").unwrap_or("everysec"));
        if log.writer().policy() != policy {
            log.writer().set_policy(policy);
        }
    }
    Ok(())
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
// TIME, SHUTDOWN

/// TIME: seconds and microseconds, as two bulk strings.
fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let us = now_us();
    Reply::Array(vec![
        Reply::text((us / 1_000_000).to_string()),
        Reply::text((us % 1_000_000).to_string()),
    ])
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
    // Redis saves on the way out when save points are set (or SAVE asks), unless NOSAVE;
    // a failed save cancels the shutdown unless FORCE.
    let wants_save = save || (!nosave && crate::rdb::save::has_save_points(&ctx.state.config));
    if wants_save {
        if let Err(e) = crate::rdb::save::save_now(ctx.state, ctx.now_ms) {
            eprintln!("Error trying to save the DB, can't exit: {e}");
            if !force {
                return Reply::error("ERR Errors trying to SHUTDOWN. Check logs.");
            }
        }
    }
    ctx.state.persistence.save.lock().exit_settled = true;
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

    use crate::{Close, Engine, Reply};

    use crate::test_support::{run, text};

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
}
