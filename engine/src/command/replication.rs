//! `REPLCONF <option> <value> ...`
//! `SYNC`
//! `PSYNC <replid> <offset>`
//!
//! The replica side of Redis's handshake, as far as a backup needs it: `redis-cli --rdb`
//! sends `REPLCONF capa eof`, `REPLCONF rdb-only 1` and SYNC, and receives a snapshot (see
//! [`crate::rdb::transfer`]). Rill does not replicate: a client that wants a replication
//! stream (no `rdb-only 1`) is refused with a clear error, and the options only replicas
//! use (listening-port, ack, ...) are not accepted.

use bytes::Bytes;

use super::info::hex_id;
use super::{Ctx, Group, Spec};
use crate::aof::base::Snapshot;
use crate::args::is;
use crate::error;
use crate::rdb::transfer::Transfer;
use crate::reply::Reply;

/// Table entries for the replication handshake.
// The table reads best one command a line.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let srv = Group::Server;
    vec![
        Spec::new("replconf", -1, srv, &["admin", "noscript", "loading", "stale", "allow_busy"], (0, 0, 0), "An internal command for configuring the replication stream.", replconf),
        Spec::new("sync", 1, srv, &["admin", "noscript", "no_async_loading", "no_multi"], (0, 0, 0), "An internal command used in replication.", sync),
        Spec::new("psync", -3, srv, &["admin", "noscript", "no_async_loading", "no_multi"], (0, 0, 0), "An internal command used in replication.", psync),
    ]
}

/// REPLCONF: `capa` (any, `eof` noted), `rdb-only 0|1`, `rdb-filter-only <filters>`.
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::error(error::SYNTAX);
    }
    let mut conf = ctx.session.replconf;
    for pair in args[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "capa") {
            // Capabilities Rill does not know are ignored, as Redis ignores them.
            conf.eof |= is(value, "eof");
        } else if is(option, "rdb-only") {
            match std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(0) => conf.rdb_only = false,
                Some(1) => conf.rdb_only = true,
                Some(_) => {
                    return Reply::error("ERR value is out of range, value must between 0 and 1")
                }
                None => return Reply::error(error::NOT_INTEGER),
            }
        } else if is(option, "rdb-filter-only") {
            let text = String::from_utf8_lossy(value);
            for filter in text.split_whitespace() {
                if !filter.eq_ignore_ascii_case("functions") {
                    return Reply::error(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        error::printable(filter.as_bytes(), 128)
                    ));
                }
            }
            // Only functions (or nothing) are wanted, and Rill holds no functions.
            conf.functions_only = true;
        } else {
            return Reply::error(format!(
                "ERR Unrecognized REPLCONF option: {}",
                error::printable(option, 128)
            ));
        }
    }
    ctx.session.replconf = conf;
    Reply::ok()
}

/// SYNC: the snapshot, EOF-framed when the client said `capa eof`.
fn sync(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    start_transfer(ctx, None)
}

/// PSYNC: always a full resynchronisation (`+FULLRESYNC <replid> 0`, then the snapshot).
fn psync(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let line = format!("FULLRESYNC {} 0", hex_id(ctx, "master_replid"));
    start_transfer(ctx, Some(line))
}

/// Takes the snapshot for the connection to send. The reply returned here is what a client
/// sees only when no transfer starts.
fn start_transfer(ctx: &mut Ctx, fullresync: Option<String>) -> Reply {
    if !ctx.session.pausable {
        return Reply::error(
            "ERR SYNC and PSYNC send a snapshot over a network connection; use SAVE or BGSAVE here",
        );
    }
    let conf = ctx.session.replconf;
    if !conf.rdb_only {
        return Reply::error(
            "ERR Rill does not replicate: it sends a snapshot only to a client that asks for it alone (REPLCONF rdb-only 1, as redis-cli --rdb does)",
        );
    }
    let paused = std::time::Instant::now();
    let snapshot = if conf.functions_only {
        Snapshot::empty()
    } else {
        Snapshot::take(ctx.state)
    };
    // Redis forks for this snapshot; INFO reports Rill's pause the same way.
    ctx.state.persistence.pauses.record(paused);
    let mark = conf
        .eof
        .then(|| hex_id(ctx, &format!("eof-mark-{}", super::info::now_us())));
    ctx.session.transfer = Some(Box::new(Transfer::new(
        snapshot,
        &ctx.state.config,
        fullresync,
        mark,
        ctx.now_ms,
    )));
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use crate::test_support::run;
    use crate::{Engine, Reply};

    #[test]
    fn an_embedded_session_gets_an_error_not_a_snapshot() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["REPLCONF", "rdb-only", "1"]), Reply::ok());
        assert!(matches!(run(&mut s, &["SYNC"]), Reply::Error(e) if e.contains("SAVE or BGSAVE")));
        assert!(s.take_transfer().is_none());
    }

    #[test]
    fn replconf_takes_option_value_pairs() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["REPLCONF"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["REPLCONF", "capa", "eof", "capa", "psync2"]),
            Reply::ok()
        );
        assert_eq!(
            run(&mut s, &["REPLCONF", "rdb-only", "x"]),
            Reply::error("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut s, &["REPLCONF", "rdb-filter-only", ""]),
            Reply::ok()
        );
        assert_eq!(
            run(&mut s, &["REPLCONF", "ack", "5"]),
            Reply::error("ERR Unrecognized REPLCONF option: ack")
        );
    }
}
