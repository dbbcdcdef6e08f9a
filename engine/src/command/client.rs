//! `CLIENT ID | INFO | LIST | KILL | SETNAME | GETNAME | SETINFO | NO-EVICT | NO-TOUCH | REPLY |`
//!        `GETREDIR | TRACKINGINFO | PAUSE | UNPAUSE | UNBLOCK | HELP`
//!
//! What the client registry shows of every connection, and what a client may change about
//! its own connection or ask of the others (KILL, PAUSE, UNBLOCK).

use bytes::Bytes;

use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::{is, parse_i64_strict};
use crate::clients::Pause;
use crate::error;
use crate::reply::Reply;
use crate::session::Close;

#[rustfmt::skip]
pub(super) fn client_spec() -> Spec {
    let plain: &'static [&'static str] = &["noscript", "loading", "stale"];
    let admin: &'static [&'static str] = &["admin", "noscript", "loading", "stale"];
    let sub = |name, arity, flags, summary, run, since| {
        Spec::new(name, arity, Group::Connection, flags, (0, 0, 0), summary, run).since(since)
    };
    Spec::new("client", -2, Group::Connection, &[], (0, 0, 0), "A container for client connection commands.", container_arity)
        .since("2.4.0")
        .with_subcommands(vec![
            sub("client|id", 2, plain, "Returns the unique client ID of the connection.", client_id, "5.0.0"),
            sub("client|info", 2, plain, "Returns information about the connection.", client_info, "6.2.0"),
            sub("client|list", -2, admin, "Lists open connections.", client_list, "2.4.0"),
            sub("client|kill", -3, admin, "Terminates open connections.", client_kill, "2.4.0"),
            sub("client|setname", 3, plain, "Sets the connection name.", client_setname, "2.6.9"),
            sub("client|getname", 2, plain, "Returns the name of the connection.", client_getname, "2.6.9"),
            sub("client|setinfo", 4, plain, "Sets information specific to the client or connection.", client_setinfo, "7.2.0"),
            sub("client|no-evict", 3, admin, "Sets the client eviction mode of the connection.", client_no_evict, "7.0.0"),
            sub("client|no-touch", 3, plain, "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", client_no_touch, "7.2.0"),
            sub("client|reply", 3, plain, "Instructs the server whether to reply to commands.", client_reply, "3.2.0"),
            sub("client|getredir", 2, plain, "Returns the client ID to which the connection's tracking notifications are redirected.", client_getredir, "6.0.0"),
            sub("client|trackinginfo", 2, plain, "Returns information about server-assisted client-side caching for the connection.", client_trackinginfo, "6.2.0"),
            sub("client|pause", -3, admin, "Suspends commands processing.", client_pause, "3.0.0"),
            sub("client|unpause", 2, admin, "Resumes processing commands from paused clients.", client_unpause, "6.2.0"),
            sub("client|unblock", -3, admin, "Unblocks a client blocked by a blocking command from a different connection.", client_unblock, "5.0.0"),
            sub("client|help", 2, &["loading", "stale"], "Returns helpful text about the different subcommands.", client_help, "5.0.0"),
        ])
}

/// Redis keeps names and library attributes to printable ASCII without spaces, so that
/// CLIENT LIST lines split on spaces.
pub(super) fn valid_client_attr(value: &[u8]) -> bool {
    value.iter().all(|c| (b'!'..=b'~').contains(c))
}

/// Sets the connection name; the empty name removes it.
pub(super) fn set_client_name(ctx: &mut Ctx, name: Bytes) {
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        info.names_mut().name = if name.is_empty() { None } else { Some(name) };
    }
}

/// Brings the caller's registry entry up to date before it is shown: the registry is otherwise
/// updated after each command, and Redis shows the running command (`cmd=client|info`).
pub(crate) fn sync_self(ctx: &mut Ctx, command: &'static str) {
    ctx.session.last_command = command;
    super::note_client_activity(ctx);
}

fn client_id(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.session.id as i64)
}

fn client_info(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    sync_self(ctx, "client|info");
    let id = ctx.session.id;
    let mut text = ctx
        .state
        .clients
        .by_id
        .get(&id)
        .map(|info| info.line(ctx.now_ms, ctx.state.pubsub.counts(id), false))
        .unwrap_or_default();
    text.push('\n');
    Reply::Verbatim(Bytes::from(text))
}

/// The client types of `CLIENT LIST TYPE` and `CLIENT KILL TYPE`: Rill's clients are normal
/// or, while subscribed to something, pubsub; none is a master or a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    PubSub,
    Replication,
}

impl ClientType {
    /// Whether the client `id` is of this type.
    fn holds(self, ctx: &Ctx, id: u64) -> bool {
        match self {
            ClientType::Normal => !ctx.state.pubsub.is_subscriber(id),
            ClientType::PubSub => ctx.state.pubsub.is_subscriber(id),
            ClientType::Replication => false,
        }
    }
}

fn client_type(arg: &[u8]) -> Result<ClientType, Reply> {
    if is(arg, "normal") {
        Ok(ClientType::Normal)
    } else if is(arg, "pubsub") {
        Ok(ClientType::PubSub)
    } else if ["master", "slave", "replica"].iter().any(|t| is(arg, t)) {
        Ok(ClientType::Replication)
    } else {
        Err(Reply::error(format!(
            "ERR Unknown client type '{}'",
            error::printable(arg, 128)
        )))
    }
}

/// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] | [ID client-id [client-id ...]]
fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    sync_self(ctx, "client|list");
    let clients = &ctx.state.clients.by_id;
    let ids: Vec<u64> = if args.len() == 4 && is(&args[2], "type") {
        match client_type(&args[3]) {
            Err(e) => return e,
            Ok(kind) => clients
                .keys()
                .copied()
                .filter(|&id| kind.holds(ctx, id))
                .collect(),
        }
    } else if args.len() > 3 && is(&args[2], "id") {
        let mut ids = Vec::new();
        for arg in &args[3..] {
            match parse_i64_strict(arg) {
                Some(id) => ids.push(id as u64),
                None => return Reply::error("ERR Invalid client ID"),
            }
        }
        ids
    } else if args.len() != 2 {
        return Reply::error(error::SYNTAX);
    } else {
        clients.keys().copied().collect()
    };
    let mut text = String::new();
    for id in ids {
        if let Some(info) = clients.get(&id) {
            let blocked = ctx.state.keyspace.blocking.get(id).is_some();
            text.push_str(&info.line(ctx.now_ms, ctx.state.pubsub.counts(id), blocked));
            text.push('\n');
        }
    }
    Reply::Verbatim(Bytes::from(text))
}

/// Which clients `CLIENT KILL` closes.
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    /// TYPE: only clients of this type.
    kind: Option<ClientType>,
    max_age_secs: Option<i64>,
    skip_me: bool,
}

/// CLIENT KILL ip:port
/// CLIENT KILL [ID client-id] [TYPE type] [USER username] [ADDR ip:port] [LADDR ip:port]
///             [SKIPME yes|no] [MAXAGE maxage] ...
///
/// The old form answers `+OK` or an error and may close the caller; the new form answers how
/// many clients it closed and skips the caller unless `SKIPME no`. The caller closes after the
/// reply; other clients are closed through the kill switch their host registered (a client
/// without one, like an embedded session, cannot be closed and is not counted).
fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let old_form = args.len() == 3;
    let filter = if old_form {
        KillFilter {
            addr: Some(args[2].clone()),
            laddr: None,
            id: None,
            kind: None,
            max_age_secs: None,
            skip_me: false,
        }
    } else {
        match parse_kill_filter(args) {
            Ok(f) => f,
            Err(e) => return e,
        }
    };
    let me = ctx.session.id;
    let now = ctx.now_ms;
    let matching: Vec<u64> = ctx
        .state
        .clients
        .by_id
        .values()
        .filter(|c| filter.kind.is_none_or(|k| k.holds(ctx, c.id)))
        .filter(|c| filter.addr.as_ref().is_none_or(|a| c.addr.as_bytes() == a))
        .filter(|c| {
            filter
                .laddr
                .as_ref()
                .is_none_or(|a| c.laddr.as_bytes() == a)
        })
        .filter(|c| filter.id.is_none_or(|id| c.id == id))
        .filter(|c| !(filter.skip_me && c.id == me))
        .filter(|c| {
            filter
                .max_age_secs
                .is_none_or(|age| (now.saturating_sub(c.created_ms) / 1000) as i64 >= age)
        })
        .map(|c| c.id)
        .collect();
    let mut killed = 0;
    for id in matching {
        if id == me {
            ctx.session.close = Close::AfterReply;
            killed += 1;
            continue;
        }
        let switch = ctx
            .state
            .clients
            .by_id
            .get(&id)
            .and_then(|c| c.kill.clone());
        if let Some(switch) = switch {
            // Gone from CLIENT LIST at once, as in Redis; the session's own drop is then a no-op.
            ctx.state.clients.by_id.remove(&id);
            switch();
            killed += 1;
        }
    }
    if old_form {
        if killed == 0 {
            Reply::error("ERR No such client")
        } else {
            Reply::ok()
        }
    } else {
        Reply::Integer(killed)
    }
}

fn parse_kill_filter(args: &[Bytes]) -> Result<KillFilter, Reply> {
    let mut filter = KillFilter {
        addr: None,
        laddr: None,
        id: None,
        kind: None,
        max_age_secs: None,
        skip_me: true,
    };
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(Reply::error(error::SYNTAX));
        }
        let (option, value) = (&args[i], &args[i + 1]);
        if is(option, "id") {
            match parse_i64_strict(value) {
                Some(id) if id > 0 => filter.id = Some(id as u64),
                _ => return Err(Reply::error("ERR client-id should be greater than 0")),
            }
        } else if is(option, "maxage") {
            match parse_i64_strict(value) {
                None => return Err(Reply::error("ERR maxage is not an integer or out of range")),
                Some(age) if age <= 0 => {
                    return Err(Reply::error("ERR maxage should be greater than 0"))
                }
                Some(age) => filter.max_age_secs = Some(age),
            }
        } else if is(option, "type") {
            filter.kind = Some(client_type(value)?);
        } else if is(option, "addr") {
            filter.addr = Some(value.clone());
        } else if is(option, "laddr") {
            filter.laddr = Some(value.clone());
        } else if is(option, "user") {
            // Rill has one user, `default`, and every client is logged in as it.
            if value.as_ref() != b"default" {
                return Err(Reply::error(format!(
                    "ERR No such user '{}'",
                    error::printable(value, 128)
                )));
            }
        } else if is(option, "skipme") {
            filter.skip_me = if is(value, "yes") {
                true
            } else if is(value, "no") {
                false
            } else {
                return Err(Reply::error(error::SYNTAX));
            };
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 2;
    }
    Ok(filter)
}

fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !valid_client_attr(&args[2]) {
        return Reply::error(super::connection::BAD_CLIENT_NAME);
    }
    set_client_name(ctx, args[2].clone());
    Reply::ok()
}

fn client_getname(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let id = ctx.session.id;
    match ctx
        .state
        .clients
        .by_id
        .get(&id)
        .and_then(|c| c.name().cloned())
    {
        Some(name) => Reply::Bulk(name),
        None => Reply::Null,
    }
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2): what client libraries announce.
fn client_setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (attr, value) = (&args[2], &args[3]);
    let lib_name = if is(attr, "lib-name") {
        true
    } else if is(attr, "lib-ver") {
        false
    } else {
        return Reply::error(format!(
            "ERR Unrecognized option '{}'",
            error::printable(attr, 128)
        ));
    };
    if !valid_client_attr(value) {
        return Reply::error(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            error::printable(attr, 128)
        ));
    }
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        let stored = if value.is_empty() {
            None
        } else {
            Some(value.clone())
        };
        if lib_name {
            info.names_mut().lib_name = stored;
        } else {
            info.names_mut().lib_ver = stored;
        }
    }
    Reply::ok()
}

/// `ON` or `OFF`, or a syntax error.
fn on_off(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(Reply::error(error::SYNTAX))
    }
}

/// CLIENT NO-EVICT ON|OFF: shown as flag `e` in CLIENT LIST. Rill never evicts clients
/// (it has no `maxmemory-clients`), so every client is effectively protected already.
fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let on = match on_off(&args[2]) {
        Ok(on) => on,
        Err(e) => return e,
    };
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        info.no_evict = on;
    }
    Reply::ok()
}

/// CLIENT NO-TOUCH ON|OFF: while on, this client's commands do not change the LRU/LFU data
/// eviction reads (a monitoring client must not keep keys alive); TOUCH still touches.
fn client_no_touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match on_off(&args[2]) {
        Ok(on) => {
            ctx.session.no_touch = on;
            Reply::ok()
        }
        Err(e) => e,
    }
}

/// CLIENT REPLY ON|OFF|SKIP: replies are always on in Rill; turning them off is refused rather
/// than silently ignored, since a client that asked for silence would misread what follows.
fn client_reply(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if is(&args[2], "on") {
        Reply::ok()
    } else if is(&args[2], "off") || is(&args[2], "skip") {
        Reply::error("ERR CLIENT REPLY OFF and SKIP are not supported by Rill")
    } else {
        Reply::error(error::SYNTAX)
    }
}

/// CLIENT GETREDIR: -1, as for any client without tracking (Rill has no client-side caching).
fn client_getredir(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(-1)
}

fn client_trackinginfo(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Map(vec![
        (Reply::text("flags"), Reply::Set(vec![Reply::text("off")])),
        (Reply::text("redirect"), Reply::Integer(-1)),
        (Reply::text("prefixes"), Reply::Array(Vec::new())),
    ])
}

/// CLIENT PAUSE timeout [WRITE|ALL]
///
/// Server connections hold their commands until the pause ends (ALL: every command; WRITE:
/// commands that may change data, including XREADGROUP and an EXEC that queued one), and
/// active expiry stops meanwhile, as in Redis, so a failover or a backup sees a still
/// dataset. A second pause keeps the later end and the stronger mode. Embedded sessions, like
/// Redis's replicas, are never held.
fn client_pause(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return Reply::error(error::subcommand_syntax("client", &args[1]));
    }
    let Some(timeout) = parse_i64_strict(&args[2]) else {
        return Reply::error("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return Reply::error("ERR timeout is negative");
    }
    let all = match args.get(3) {
        None => true,
        Some(mode) if is(mode, "all") => true,
        Some(mode) if is(mode, "write") => false,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let until_ms = ctx.now_ms.saturating_add(timeout as u64);
    let pause = match ctx.state.clients.pause_at(ctx.now_ms) {
        Some(p) => Pause {
            until_ms: p.until_ms.max(until_ms),
            all: p.all || all,
        },
        None => Pause { until_ms, all },
    };
    ctx.state.clients.pause = Some(pause);
    Reply::ok()
}

/// CLIENT UNPAUSE: ends a pause at once; held commands run.
fn client_unpause(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.state.clients.pause = None;
    ctx.shared.pause_gate.open();
    Reply::ok()
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]: answers another client's blocking command
/// (BLPOP and kin, XREAD and XREADGROUP with BLOCK) at once, as its timeout would (a null
/// reply) or with an UNBLOCKED error; a worker pool uses it to stop a worker waiting for
/// work. 1 if that client was blocked, else 0. A client held by CLIENT PAUSE is not blocked
/// in this sense (0, as since Redis 7.2).
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 4 {
        return Reply::error(error::subcommand_syntax("client", &args[1]));
    }
    // Redis checks the reason before the ID.
    let reply = match args.get(3) {
        None => Reply::NullArray,
        Some(reason) if is(reason, "timeout") => Reply::NullArray,
        Some(reason) if is(reason, "error") => {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        }
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(id) = parse_i64_strict(&args[2]) else {
        return Reply::error(error::NOT_INTEGER);
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| crate::blocking::answer(ctx.state, id, reply));
    Reply::Integer(unblocked as i64)
}

fn client_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "client",
        &[
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, text};
    use crate::{Engine, Reply};

    #[test]
    fn no_evict_shows_as_flag_e() {
        let mut s = Engine::new().session();
        assert!(text(run(&mut s, &["CLIENT", "INFO"])).contains(" flags=N "));
        assert_eq!(run(&mut s, &["CLIENT", "NO-EVICT", "on"]), Reply::ok());
        assert!(text(run(&mut s, &["CLIENT", "INFO"])).contains(" flags=e "));
        assert_eq!(run(&mut s, &["CLIENT", "NO-EVICT", "off"]), Reply::ok());
        assert!(text(run(&mut s, &["CLIENT", "INFO"])).contains(" flags=N "));
    }

    #[test]
    fn no_touch_leaves_the_lru_clock_alone() {
        let engine = Engine::new();
        let mut writer = engine.session();
        let mut watcher = engine.session();
        assert_eq!(run(&mut writer, &["SET", "k", "v"]), Reply::ok());
        // Idle time as seen from one fixed instant: it changes only if the key's clock does.
        let at = crate::now_ms() + 10_000;
        let stamp = |engine: &Engine| {
            let st = engine.shared.state.lock();
            st.keyspace.dbs[0].idle_seconds(b"k", at)
        };
        let before = stamp(&engine);
        assert_eq!(
            run(&mut watcher, &["CLIENT", "NO-TOUCH", "on"]),
            Reply::ok()
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        run(&mut watcher, &["GET", "k"]);
        assert_eq!(
            stamp(&engine),
            before,
            "a NO-TOUCH read moved the LRU clock"
        );
        run(&mut writer, &["GET", "k"]);
        assert_ne!(
            stamp(&engine),
            before,
            "a normal read did not move the LRU clock"
        );
    }
}
