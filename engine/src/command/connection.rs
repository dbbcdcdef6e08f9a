//! `PING [message]`
//! `ECHO message`
//! `SELECT index`
//! `HELLO [protover [AUTH username password] [SETNAME clientname]]`
//! `AUTH [username] password`
//! `QUIT`
//! `RESET`
//!
//! The connection's own state: its database, protocol and authentication (CLIENT is in
//! `client.rs`).

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{is, parse_i64_strict};
use crate::error;
use crate::reply::Reply;
use crate::session::Close;

pub(super) const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
const NO_PASSWORD_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// Table entries for PING, ECHO, SELECT, HELLO, AUTH, QUIT, RESET, and CLIENT from `client.rs`.
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
        super::client::client_spec(),
    ]
}

/// PING [message]: `+PONG`, or the message as a bulk string.
fn ping(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() <= 2 {
        if let Some(reply) = super::pubsub::subscriber_ping(ctx, args) {
            return reply;
        }
    }
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
            if !super::client::valid_client_attr(&args[i + 1]) {
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
        super::client::set_client_name(ctx, name);
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
    super::pubsub::leave_all(ctx);
    ctx.session.db = 0;
    ctx.session.protocol = 2;
    ctx.session.authenticated = ctx.state.config.requirepass().is_none();
    // CLIENT NO-TOUCH and NO-EVICT end too, as since Redis 7.2.
    ctx.session.no_touch = false;
    let id = ctx.session.id;
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        if let Some(names) = info.names.as_mut() {
            names.name = None;
        }
        info.no_evict = false;
    }
    Reply::simple("RESET")
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
        run(&mut s, &["CLIENT", "NO-EVICT", "on"]);
        run(&mut s, &["CLIENT", "NO-TOUCH", "on"]);
        run(&mut s, &["WATCH", "w"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(run(&mut s, &["RESET"]), Reply::simple("RESET"));
        assert!(!s.in_multi());
        assert_eq!(s.protocol(), 2);
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), Reply::Null);
        let info = text(run(&mut s, &["CLIENT", "INFO"]));
        assert!(
            info.contains(" db=0 ") && info.contains(" watch=0 ") && info.contains(" flags=N "),
            "NO-EVICT ended too: {info}"
        );
        assert!(!s.no_touch(), "NO-TOUCH ended too");
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
