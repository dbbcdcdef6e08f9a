//! `PING [message]`
//! `ECHO message`
//! `SELECT index`
//! `HELLO [protover [AUTH username password] [SETNAME clientname]]`
//! `AUTH [username] password`
//! `CLIENT ID | INFO | LIST | KILL | SETNAME | GETNAME | SETINFO | NO-EVICT | NO-TOUCH | REPLY |`
//!        `GETREDIR | TRACKINGINFO | UNPAUSE | HELP`
//! `QUIT`
//! `RESET`
//!
//! The connection's own state: its database, protocol, name and authentication, and what the
//! client registry shows of every connection.

use bytes::Bytes;

use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::{is, parse_i64_strict};
use crate::error;
use crate::reply::Reply;
use crate::session::Close;

const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
const NO_PASSWORD_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// Table entries for PING, ECHO, SELECT, HELLO, AUTH, QUIT, RESET and CLIENT with its subcommands.
/// The handshake commands carry `no_auth` so that they work before AUTH.
// The table reads best one command a line.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let handshake: &'static [&'static str] = &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"];
    let conn = Group::Connection;
    vec![
        Spec::new("ping", -1, conn, &["fast"], (0, 0, 0), "Returns the server's liveliness response.", ping),
        Spec::new("echo", 2, conn, &["loading", "stale", "fast"], (0, 0, 0), "Returns the given string.", echo),
        Spec::new("select", 2, conn, &["loading", "stale", "fast"], (0, 0, 0), "Changes the selected database.", select),
        Spec::new("hello", -1, conn, handshake, (0, 0, 0), "Handshakes with the Redis server.", hello).since("6.0.0"),
        Spec::new("auth", -2, conn, handshake, (0, 0, 0), "Authenticates the connection.", auth),
        Spec::new("quit", -1, conn, handshake, (0, 0, 0), "Closes the connection.", quit),
        Spec::new("reset", 1, conn, handshake, (0, 0, 0), "Resets the connection.", reset).since("6.2.0"),
        client_spec(),
    ]
}

#[rustfmt::skip]
fn client_spec() -> Spec {
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
            sub("client|unpause", 2, admin, "Resumes processing commands from paused clients.", client_unpause, "6.2.0"),
            sub("client|help", 2, &["loading", "stale"], "Returns helpful text about the different subcommands.", client_help, "5.0.0"),
        ])
}

/// PING [message]: `+PONG`, or the message as a bulk string.
fn ping(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::simple("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        // The table's arity is -1 (any number), but PING checks for at most one argument itself.
        _ => Reply::error(error::arity("ping")),
    }
}

fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

fn select(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(index) = parse_i64_strict(&args[1]) else {
        return Reply::error(error::NOT_INTEGER);
    };
    // Redis reads the index as a C int.
    if i32::try_from(index).is_err() {
        return Reply::error(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        );
    }
    if index < 0 || index as usize >= ctx.state.keyspace.dbs.len() {
        return Reply::error(error::DB_INDEX_OUT_OF_RANGE);
    }
    ctx.session.db = index as usize;
    Reply::ok()
}

/// Whether `user`/`password` log in as the only user Rill has, `default`. Without
/// `requirepass` the default user takes any password, as Redis's `nopass` user does.
fn credentials_ok(ctx: &Ctx, user: &[u8], password: &[u8]) -> bool {
    // Usernames are case-sensitive in Redis: `DEFAULT` is another (unknown) user.
    if user != b"default" {
        return false;
    }
    match ctx.state.config.requirepass() {
        None => true,
        Some(expected) => same_secret(expected.as_bytes(), password),
    }
}

/// Compares secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 => {
            if ctx.state.config.requirepass().is_none() {
                return Reply::error(NO_PASSWORD_CONFIGURED);
            }
            (b"default", &args[1])
        }
        3 => (&args[1], &args[2]),
        _ => return Reply::error(error::SYNTAX),
    };
    if credentials_ok(ctx, user, password) {
        ctx.session.authenticated = true;
        Reply::ok()
    } else {
        Reply::error(WRONGPASS)
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
///
/// Options are all checked before any takes effect, then AUTH, then the name and protocol.
fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut protocol = None;
    if args.len() >= 2 {
        let Some(version) = parse_i64_strict(&args[1]) else {
            return Reply::error("ERR Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&version) {
            return Reply::error("NOPROTO unsupported protocol version");
        }
        protocol = Some(version as u8);
    }
    let mut credentials = None;
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "auth") && more >= 2 {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            if !valid_client_attr(&args[i + 1]) {
                return Reply::error(BAD_CLIENT_NAME);
            }
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                error::printable(&args[i], 128)
            ));
        }
    }
    if let Some((user, password)) = credentials {
        if !credentials_ok(ctx, user, password) {
            return Reply::error(WRONGPASS);
        }
        ctx.session.authenticated = true;
    }
    if !ctx.session.authenticated {
        return Reply::error(HELLO_NOAUTH);
    }
    if let Some(name) = name {
        set_client_name(ctx, name);
    }
    if let Some(protocol) = protocol {
        ctx.session.protocol = protocol;
    }
    let text = Reply::text;
    Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(crate::REDIS_VERSION)),
        (
            text("proto"),
            Reply::Integer(i64::from(ctx.session.protocol)),
        ),
        (text("id"), Reply::Integer(ctx.session.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Reply::Array(Vec::new())),
    ])
}

/// QUIT: `+OK`, then the connection closes.
fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.session.close = Close::AfterReply;
    Reply::ok()
}

/// RESET: the connection becomes as if just opened (database 0, RESP2, no transaction, no
/// WATCH, no name, authenticated only if no password is set). The library name and version
/// stay: they still describe the client behind the connection.
fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.session.multi = None;
    super::transactions::unwatch_all(ctx);
    ctx.session.db = 0;
    ctx.session.protocol = 2;
    ctx.session.authenticated = ctx.state.config.requirepass().is_none();
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        info.name = None;
    }
    Reply::simple("RESET")
}

/// Redis keeps names and library attributes to printable ASCII without spaces, so that
/// CLIENT LIST lines split on spaces.
fn valid_client_attr(value: &[u8]) -> bool {
    value.iter().all(|c| (b'!'..=b'~').contains(c))
}

/// Sets the connection name; the empty name removes it.
fn set_client_name(ctx: &mut Ctx, name: Bytes) {
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        info.name = if name.is_empty() { None } else { Some(name) };
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
        .map(|info| info.line(ctx.now_ms))
        .unwrap_or_default();
    text.push('\n');
    Reply::Verbatim(Bytes::from(text))
}

/// The client types of `CLIENT LIST TYPE` and `CLIENT KILL TYPE`; every Rill client is normal.
fn client_type_is_normal(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "normal") {
        Ok(true)
    } else if ["master", "slave", "replica", "pubsub"]
        .iter()
        .any(|t| is(arg, t))
    {
        Ok(false)
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
        match client_type_is_normal(&args[3]) {
            Err(e) => return e,
            Ok(true) => clients.keys().copied().collect(),
            Ok(false) => Vec::new(),
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
            text.push_str(&info.line(ctx.now_ms));
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
    /// Only normal clients exist, so a type filter either keeps all or none.
    any_type: bool,
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
            any_type: true,
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
        .filter(|_| filter.any_type)
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
        any_type: true,
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
            filter.any_type = client_type_is_normal(value)?;
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
        return Reply::error(BAD_CLIENT_NAME);
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
        .and_then(|c| c.name.clone())
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
            info.lib_name = stored;
        } else {
            info.lib_ver = stored;
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

/// CLIENT NO-EVICT ON|OFF: Rill never evicts clients, so both modes behave alike.
fn client_no_evict(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match on_off(&args[2]) {
        Ok(_) => Reply::ok(),
        Err(e) => e,
    }
}

/// CLIENT NO-TOUCH ON|OFF: Rill keeps no LRU/LFU data for commands to touch.
fn client_no_touch(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match on_off(&args[2]) {
        Ok(_) => Reply::ok(),
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

/// CLIENT UNPAUSE: nothing is ever paused in Rill.
fn client_unpause(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::ok()
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
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::{Close, Config, Engine, Reply};

    use crate::test_support::{run, text};

    fn map_get(reply: &Reply, key: &str) -> Reply {
        match reply {
            Reply::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| *k == Reply::text(key))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {key} in {reply:?}")),
            other => panic!("not a map: {other:?}"),
        }
    }

    fn with_password() -> Engine {
        let mut config = Config::default();
        assert!(config.set("requirepass", "secret", true).is_ok());
        Engine::with_config(config)
    }

    #[test]
    fn ping_echo() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["PING"]), Reply::simple("PONG"));
        assert_eq!(run(&mut s, &["ping", "hi"]), Reply::text("hi"));
        assert_eq!(
            run(&mut s, &["PING", "a", "b"]),
            Reply::error("ERR wrong number of arguments for 'ping' command")
        );
        assert_eq!(run(&mut s, &["ECHO", "x y"]), Reply::text("x y"));
    }

    #[test]
    fn select_changes_database() {
        let mut s = Engine::new().session();
        let out_of_range = Reply::error("ERR DB index is out of range");
        assert_eq!(run(&mut s, &["SELECT", "16"]), out_of_range);
        assert_eq!(run(&mut s, &["SELECT", "-1"]), out_of_range);
        assert_eq!(
            run(&mut s, &["SELECT", "x"]),
            Reply::error("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut s, &["SELECT", "99999999999"]),
            Reply::error(
                "ERR value is out of range, value must between -2147483648 and 2147483647"
            )
        );
        assert_eq!(run(&mut s, &["SELECT", "1"]), Reply::ok());
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(1));
        run(&mut s, &["SELECT", "0"]);
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(0));
    }

    #[test]
    fn hello_switches_protocol_and_names() {
        let mut s = Engine::new().session();
        let reply = run(&mut s, &["HELLO", "3", "SETNAME", "worker-1"]);
        assert_eq!(map_get(&reply, "server"), Reply::text("redis"));
        assert_eq!(
            map_get(&reply, "version"),
            Reply::text(crate::REDIS_VERSION)
        );
        assert_eq!(map_get(&reply, "proto"), Reply::Integer(3));
        assert_eq!(map_get(&reply, "id"), Reply::Integer(s.id() as i64));
        assert_eq!(map_get(&reply, "mode"), Reply::text("standalone"));
        assert_eq!(map_get(&reply, "role"), Reply::text("master"));
        assert_eq!(map_get(&reply, "modules"), Reply::Array(Vec::new()));
        assert_eq!(s.protocol(), 3);
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::text("worker-1"));
        // HELLO without a version keeps the protocol.
        assert_eq!(
            map_get(&run(&mut s, &["HELLO"]), "proto"),
            Reply::Integer(3)
        );
    }

    #[test]
    fn hello_errors() {
        let mut s = Engine::new().session();
        let noproto = Reply::error("NOPROTO unsupported protocol version");
        assert_eq!(run(&mut s, &["HELLO", "4"]), noproto);
        assert_eq!(run(&mut s, &["HELLO", "1"]), noproto);
        assert_eq!(
            run(&mut s, &["HELLO", "x"]),
            Reply::error("ERR Protocol version is not an integer or out of range")
        );
        assert_eq!(
            run(&mut s, &["HELLO", "3", "FOO"]),
            Reply::error("ERR Syntax error in HELLO option 'FOO'")
        );
        assert_eq!(
            run(&mut s, &["HELLO", "3", "AUTH", "default"]),
            Reply::error("ERR Syntax error in HELLO option 'AUTH'")
        );
        assert_eq!(
            run(&mut s, &["HELLO", "3", "SETNAME", "a b"]),
            Reply::error(super::BAD_CLIENT_NAME)
        );
        // A refused HELLO changes nothing.
        assert_eq!(s.protocol(), 2);
    }

    #[test]
    fn auth_without_password() {
        let mut s = Engine::new().session();
        assert_eq!(
            run(&mut s, &["AUTH", "x"]),
            Reply::error(super::NO_PASSWORD_CONFIGURED)
        );
        // The default user takes any password when none is configured; names are case-sensitive.
        assert_eq!(run(&mut s, &["AUTH", "default", "x"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["AUTH", "DEFAULT", "x"]),
            Reply::error(super::WRONGPASS)
        );
        assert_eq!(
            run(&mut s, &["AUTH", "a", "b", "c"]),
            Reply::error("ERR syntax error")
        );
    }

    #[test]
    fn auth_with_password() {
        let engine = with_password();
        let mut s = engine.session();
        let noauth = Reply::error("NOAUTH Authentication required.");
        assert_eq!(run(&mut s, &["PING"]), noauth);
        assert_eq!(
            run(&mut s, &["HELLO", "3"]),
            Reply::error(super::HELLO_NOAUTH)
        );
        assert_eq!(
            run(&mut s, &["AUTH", "wrong"]),
            Reply::error(super::WRONGPASS)
        );
        assert_eq!(
            run(&mut s, &["AUTH", "bob", "secret"]),
            Reply::error(super::WRONGPASS)
        );
        assert_eq!(run(&mut s, &["AUTH", "secret"]), Reply::ok());
        assert_eq!(run(&mut s, &["PING"]), Reply::simple("PONG"));

        let mut t = engine.session();
        assert_eq!(
            run(&mut t, &["HELLO", "3", "AUTH", "default", "bad"]),
            Reply::error(super::WRONGPASS)
        );
        let reply = run(&mut t, &["HELLO", "3", "AUTH", "default", "secret"]);
        assert_eq!(map_get(&reply, "proto"), Reply::Integer(3));
        assert_eq!(run(&mut t, &["PING"]), Reply::simple("PONG"));
        // RESET logs out again.
        assert_eq!(run(&mut t, &["RESET"]), Reply::simple("RESET"));
        assert_eq!(run(&mut t, &["PING"]), noauth);
    }

    #[test]
    fn client_names() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::Null);
        for bad in ["a b", "a\nb", "caf\u{e9}"] {
            assert_eq!(
                run(&mut s, &["CLIENT", "SETNAME", bad]),
                Reply::error(super::BAD_CLIENT_NAME)
            );
        }
        assert_eq!(run(&mut s, &["CLIENT", "SETNAME", "worker"]), Reply::ok());
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::text("worker"));
        assert!(text(run(&mut s, &["CLIENT", "INFO"])).contains(" name=worker "));
        assert_eq!(run(&mut s, &["CLIENT", "SETNAME", ""]), Reply::ok());
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::Null);
    }

    #[test]
    fn client_info_and_list() {
        let engine = Engine::new();
        let mut a = engine.session();
        let mut b = engine.session();
        run(&mut b, &["CLIENT", "SETNAME", "b"]);
        let info = text(run(&mut a, &["CLIENT", "INFO"]));
        assert!(info.starts_with(&format!("id={} addr=", a.id())));
        assert!(info.contains(" cmd=client|info ") && info.ends_with(" lib-ver=\n"));
        assert_eq!(
            run(&mut a, &["CLIENT", "ID"]),
            Reply::Integer(a.id() as i64)
        );

        let all = text(run(&mut a, &["CLIENT", "LIST"]));
        assert_eq!(all.lines().count(), 2);
        assert!(all.contains(" name=b "));
        let only_b = text(run(
            &mut a,
            &["CLIENT", "LIST", "ID", &b.id().to_string(), "999"],
        ));
        assert_eq!(only_b.lines().count(), 1);
        assert!(only_b.starts_with(&format!("id={} ", b.id())));
        assert_eq!(
            text(run(&mut a, &["CLIENT", "LIST", "TYPE", "normal"]))
                .lines()
                .count(),
            2
        );
        assert_eq!(text(run(&mut a, &["CLIENT", "LIST", "TYPE", "pubsub"])), "");
        assert_eq!(
            run(&mut a, &["CLIENT", "LIST", "TYPE", "foo"]),
            Reply::error("ERR Unknown client type 'foo'")
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "LIST", "ID", "1", "x"]),
            Reply::error("ERR Invalid client ID")
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "LIST", "foo"]),
            Reply::error("ERR syntax error")
        );
    }

    #[test]
    fn client_setinfo() {
        let mut s = Engine::new().session();
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            Reply::ok()
        );
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "lib-ver", "5.0.1"]),
            Reply::ok()
        );
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "lib-name", "a b"]),
            Reply::error("ERR lib-name cannot contain spaces, newlines or special characters.")
        );
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "foo", "1"]),
            Reply::error("ERR Unrecognized option 'foo'")
        );
        let info = text(run(&mut s, &["CLIENT", "INFO"]));
        assert!(info.ends_with(" lib-name=redis-py lib-ver=5.0.1\n"));
        // RESET keeps the library attributes.
        run(&mut s, &["RESET"]);
        assert!(text(run(&mut s, &["CLIENT", "INFO"])).contains("lib-name=redis-py"));
    }

    #[test]
    fn client_kill_uses_kill_switch() {
        let engine = Engine::new();
        let mut a = engine.session();
        let mut b = engine.session();
        let killed = Arc::new(AtomicBool::new(false));
        let flag = killed.clone();
        b.attach(
            "10.0.0.2:5000".into(),
            "10.0.0.1:6379".into(),
            Arc::new(move || flag.store(true, Ordering::SeqCst)),
        );
        let c = engine.session(); // embedded, no kill switch: cannot be closed
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "ID", &c.id().to_string()]),
            Reply::Integer(0)
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "ID", &b.id().to_string()]),
            Reply::Integer(1)
        );
        assert!(killed.load(Ordering::SeqCst));
        assert_eq!(
            text(run(&mut a, &["CLIENT", "LIST", "ID", &b.id().to_string()])),
            ""
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "10.0.0.2:5000"]),
            Reply::error("ERR No such client")
        );
        assert_eq!(a.close_requested(), Close::No);
    }

    #[test]
    fn client_kill_filters() {
        let engine = Engine::new();
        let mut a = engine.session();
        let killed = Arc::new(AtomicBool::new(false));
        let flag = killed.clone();
        let mut b = engine.session();
        b.attach(
            "10.0.0.2:5000".into(),
            "10.0.0.1:6379".into(),
            Arc::new(move || flag.store(true, Ordering::SeqCst)),
        );
        for (args, error) in [
            (vec!["ID", "x"], "ERR client-id should be greater than 0"),
            (vec!["ID", "0"], "ERR client-id should be greater than 0"),
            (vec!["SKIPME", "maybe"], "ERR syntax error"),
            (vec!["ID", "1", "SKIPME"], "ERR syntax error"),
            (vec!["foo", "bar"], "ERR syntax error"),
            (vec!["USER", "bob"], "ERR No such user 'bob'"),
            (vec!["TYPE", "foo"], "ERR Unknown client type 'foo'"),
            (vec!["MAXAGE", "0"], "ERR maxage should be greater than 0"),
        ] {
            let mut words = vec!["CLIENT", "KILL"];
            words.extend(args);
            assert_eq!(run(&mut a, &words), Reply::error(error), "{words:?}");
        }
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "TYPE", "master"]),
            Reply::Integer(0)
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "MAXAGE", "1000"]),
            Reply::Integer(0)
        );
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "LADDR", "10.0.0.9:1"]),
            Reply::Integer(0)
        );
        assert!(!killed.load(Ordering::SeqCst));
        // The old form may kill by address (and `+OK`).
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "10.0.0.2:5000"]),
            Reply::ok()
        );
        assert!(killed.load(Ordering::SeqCst));
    }

    #[test]
    fn client_kill_self_closes_after_reply() {
        let engine = Engine::new();
        let mut a = engine.session();
        let id = a.id().to_string();
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "ID", &id]),
            Reply::Integer(0)
        );
        assert_eq!(a.close_requested(), Close::No);
        assert_eq!(
            run(&mut a, &["CLIENT", "KILL", "ID", &id, "SKIPME", "no"]),
            Reply::Integer(1)
        );
        assert_eq!(a.close_requested(), Close::AfterReply);
        let mut b = engine.session();
        assert_eq!(run(&mut b, &["CLIENT", "KILL", "embedded:0"]), Reply::ok());
        assert_eq!(b.close_requested(), Close::AfterReply);
    }

    #[test]
    fn client_modes() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["CLIENT", "NO-EVICT", "on"]), Reply::ok());
        assert_eq!(run(&mut s, &["CLIENT", "NO-TOUCH", "OFF"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["CLIENT", "NO-EVICT", "x"]),
            Reply::error("ERR syntax error")
        );
        assert_eq!(run(&mut s, &["CLIENT", "REPLY", "ON"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["CLIENT", "REPLY", "x"]),
            Reply::error("ERR syntax error")
        );
        assert!(run(&mut s, &["CLIENT", "REPLY", "OFF"]).is_error());
        assert_eq!(run(&mut s, &["CLIENT", "GETREDIR"]), Reply::Integer(-1));
        assert_eq!(
            run(&mut s, &["CLIENT"]),
            Reply::error("ERR wrong number of arguments for 'client' command")
        );
        assert_eq!(
            run(&mut s, &["CLIENT", "FOO"]),
            Reply::error("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
        );
        match run(&mut s, &["CLIENT", "HELP"]) {
            Reply::Array(lines) => assert_eq!(
                lines[0],
                Reply::simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quit_closes_after_reply() {
        let mut s = Engine::new().session();
        assert_eq!(run(&mut s, &["QUIT"]), Reply::ok());
        assert_eq!(s.close_requested(), Close::AfterReply);
    }

    #[test]
    fn reset_restores_a_fresh_connection() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SELECT", "2"]);
        run(&mut s, &["HELLO", "3", "SETNAME", "n"]);
        run(&mut s, &["WATCH", "w"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(run(&mut s, &["RESET"]), Reply::simple("RESET"));
        assert!(!s.in_multi());
        assert_eq!(s.protocol(), 2);
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::Null);
        let info = text(run(&mut s, &["CLIENT", "INFO"]));
        assert!(
            info.contains(" db=0 ") && info.contains(" watch=0 "),
            "{info}"
        );
        // The queued XADD never ran, in any database.
        run(&mut s, &["SELECT", "2"]);
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(0));
        // The WATCH is gone: another client's write does not abort a new transaction.
        let mut other = engine.session();
        run(&mut other, &["XADD", "w", "1-1", "f", "v"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(
            run(&mut s, &["EXEC"]),
            Reply::Array(vec![Reply::simple("PONG")])
        );
    }
}
