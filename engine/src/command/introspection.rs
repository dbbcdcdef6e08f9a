//! COMMAND
//! COMMAND COUNT
//! COMMAND INFO [command-name ...]
//! COMMAND DOCS [command-name ...]
//! COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
//! COMMAND GETKEYS command [arg ...]
//! COMMAND GETKEYSANDFLAGS command [arg ...]
//! COMMAND HELP
//!
//! The command table described to clients: client libraries read it to learn arities, flags
//! and key positions, and `redis-cli` reads COMMAND DOCS for its hints.

use bytes::Bytes;

use super::{help_reply, table, Ctx, Group, Spec};
use crate::args::{glob_match, is, parse_i64_strict};
use crate::error;
use crate::reply::Reply;

/// Table entries for COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS...): what client
/// libraries read to learn arities, flags and key positions.
// The table reads best one command a line.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let flags: &'static [&'static str] = &["loading", "stale"];
    let sub = |name, arity, summary, run, since| {
        Spec::new(name, arity, Group::Server, flags, (0, 0, 0), summary, run).since(since)
    };
    vec![Spec::new("command", -1, Group::Server, flags, (0, 0, 0), "Returns detailed information about all commands.", command_all)
        .since("2.8.13")
        .with_subcommands(vec![
            sub("command|count", 2, "Returns a count of commands.", count, "2.8.13"),
            sub("command|info", -2, "Returns information about one, multiple or all commands.", info, "2.8.13"),
            sub("command|docs", -2, "Returns documentary information about one, multiple or all commands.", docs, "7.0.0"),
            sub("command|list", -2, "Returns a list of command names.", list, "7.0.0"),
            sub("command|getkeys", -4, "Extracts the key names from an arbitrary command.", getkeys, "2.8.13"),
            sub("command|getkeysandflags", -4, "Extracts the key names and access flags for an arbitrary command.", getkeysandflags, "7.0.0"),
            sub("command|help", 2, "Returns helpful text about the different subcommands.", help, "5.0.0"),
        ])]
}

/// Command flags in the order Redis lists them; flags it does not know go last.
const FLAG_ORDER: &[&str] = &[
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "may_replicate",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
];

/// ACL categories in the order Redis lists them.
const CATEGORY_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// Sorts `items` by their position in `order`, unknown ones last (stable).
fn in_order(mut items: Vec<&'static str>, order: &[&str]) -> Vec<&'static str> {
    items.sort_by_key(|item| order.iter().position(|o| o == item).unwrap_or(order.len()));
    items
}

/// A container (CLIENT, CONFIG...) only routes to its subcommands: Redis gives it no flags and
/// no category but `@slow`.
fn categories(spec: &Spec) -> Vec<&'static str> {
    if spec.subcommands.is_empty() {
        in_order(spec.acl_categories(), CATEGORY_ORDER)
    } else {
        vec!["@slow"]
    }
}

/// Every top-level command, by name.
fn all_commands() -> Vec<&'static Spec> {
    let mut all: Vec<&'static Spec> = table().values().collect();
    all.sort_by_key(|s| s.name);
    all
}

/// A command by its full name (`xadd`, `client|kill`), case-insensitive.
fn find(name: &[u8]) -> Option<&'static Spec> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let parent = name.split('|').next().unwrap_or_default();
    let spec = table().get(parent)?;
    if parent == name {
        return Some(spec);
    }
    spec.subcommands.iter().find(|s| s.name == name)
}

/// One command in COMMAND INFO's format: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications, subcommands.
fn info_reply(spec: &Spec) -> Reply {
    let simple_set =
        |items: Vec<&'static str>| Reply::Set(items.into_iter().map(Reply::simple).collect());
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(spec.subcommands.iter().map(info_reply).collect())
    };
    Reply::Array(vec![
        Reply::text(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        simple_set(in_order(spec.flags.to_vec(), FLAG_ORDER)),
        Reply::Integer(i64::from(spec.keys.0)),
        Reply::Integer(i64::from(spec.keys.1)),
        Reply::Integer(i64::from(spec.keys.2)),
        simple_set(categories(spec)),
        Reply::Set(Vec::new()),
        Reply::Set(Vec::new()),
        subcommands,
    ])
}

/// COMMAND: the same as COMMAND INFO with no names.
fn command_all(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Array(all_commands().into_iter().map(info_reply).collect())
}

fn count(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(table().len() as i64)
}

/// COMMAND INFO [command-name ...]: a null for each unknown name.
fn info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return command_all(ctx, args);
    }
    Reply::Array(
        args[2..]
            .iter()
            .map(|name| find(name).map(info_reply).unwrap_or(Reply::Null))
            .collect(),
    )
}

fn docs_reply(spec: &Spec) -> Reply {
    let mut doc = vec![
        (Reply::text("summary"), Reply::text(spec.summary)),
        (Reply::text("since"), Reply::text(spec.since)),
        (Reply::text("group"), Reply::text(spec.group.name())),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (Reply::text(s.name), docs_reply(s)))
            .collect();
        doc.push((Reply::text("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(doc)
}

/// COMMAND DOCS [command-name ...]: a map from name to documentation; unknown names are left
/// out.
fn docs(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let specs: Vec<&'static Spec> = if args.len() == 2 {
        all_commands()
    } else {
        args[2..].iter().filter_map(|name| find(name)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|s| (Reply::text(s.name), docs_reply(s)))
            .collect(),
    )
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: names of commands
/// and subcommands.
fn list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let everything = all_commands()
        .into_iter()
        .flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()));
    let names: Vec<&'static str> = if args.len() == 2 {
        everything.map(|s| s.name).collect()
    } else if args.len() == 5 && is(&args[2], "filterby") {
        let value = &args[4];
        if is(&args[3], "module") {
            // Rill loads no modules.
            Vec::new()
        } else if is(&args[3], "aclcat") {
            let wanted = format!("@{}", String::from_utf8_lossy(value));
            everything
                .filter(|s| {
                    categories(s)
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(&wanted))
                })
                .map(|s| s.name)
                .collect()
        } else if is(&args[3], "pattern") {
            everything
                .filter(|s| glob_match(value, s.name.as_bytes(), true))
                .map(|s| s.name)
                .collect()
        } else {
            return Reply::error(error::SYNTAX);
        }
    } else {
        return Reply::error(error::SYNTAX);
    };
    Reply::Array(names.into_iter().map(Reply::text).collect())
}

/// The positions of the keys in `argv` (a whole command line, name first), or the error
/// COMMAND GETKEYS answers.
fn key_positions(argv: &[Bytes]) -> Result<Vec<usize>, Reply> {
    let invalid_command = || Reply::error("ERR Invalid command specified");
    let mut spec = find(&argv[0]).ok_or_else(invalid_command)?;
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        let full = format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
        );
        spec = spec
            .subcommands
            .iter()
            .find(|s| s.name == full)
            .ok_or_else(invalid_command)?;
    }
    let movable = spec.has_flag("movablekeys");
    if spec.keys.0 == 0 && !movable {
        return Err(Reply::error("ERR The command has no key arguments"));
    }
    let argc = argv.len() as i64;
    let arity = i64::from(spec.arity);
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions = if movable {
        movable_keys(spec.name, argv)
    } else {
        let (first, last, step) = (
            i64::from(spec.keys.0),
            i64::from(spec.keys.1),
            i64::from(spec.keys.2).max(1),
        );
        let last = if last < 0 { argc + last } else { last };
        if last >= argc || last < first {
            Vec::new()
        } else {
            (first..=last)
                .step_by(step as usize)
                .map(|i| i as usize)
                .collect()
        }
    };
    if positions.is_empty() && !spec.has_flag("no_mandatory_keys") {
        return Err(Reply::error("ERR Invalid arguments specified for command"));
    }
    Ok(positions)
}

/// Keys of commands whose key positions depend on their arguments.
fn movable_keys(name: &str, argv: &[Bytes]) -> Vec<usize> {
    match name {
        // XREAD ... STREAMS key [key ...] id [id ...]: the first half after the keyword.
        "xread" | "xreadgroup" => {
            let from = if name == "xread" { 1 } else { 4 };
            let Some(at) = (from..argv.len()).find(|&i| is(&argv[i], "streams")) else {
                return Vec::new();
            };
            let first = at + 1;
            let n = (argv.len() - first) / 2;
            (first..first + n).collect()
        }
        // LMPOP and SINTERCARD numkeys key [key ...] ... (BLMPOP: after its timeout)
        "lmpop" | "blmpop" | "sintercard" | "zmpop" | "bzmpop" | "zunion" | "zinter" | "zdiff"
        | "zintercard" | "zunionstore" | "zinterstore" | "zdiffstore" => {
            let at = if matches!(name, "blmpop" | "bzmpop") || name.ends_with("store") {
                2
            } else {
                1
            };
            // The STORE forms name their destination first.
            let dst = name.ends_with("store").then_some(1);
            match argv.get(at).and_then(|a| parse_i64_strict(a)) {
                Some(n) if n > 0 && (n as usize) < argv.len() - at => {
                    dst.into_iter().chain(at + 1..at + 1 + n as usize).collect()
                }
                _ => Vec::new(),
            }
        }
        // EVAL script numkeys key [key ...] arg [arg ...] (and EVALSHA, FCALL...).
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            match parse_i64_strict(&argv[2]) {
                Some(n) if n > 0 && (n as usize) <= argv.len() - 3 => (3..3 + n as usize).collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

fn getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match key_positions(&args[2..]) {
        Ok(positions) => Reply::Array(
            positions
                .into_iter()
                .map(|i| Reply::Bulk(args[2 + i].clone()))
                .collect(),
        ),
        Err(e) => e,
    }
}

/// COMMAND GETKEYSANDFLAGS: the keys with access flags. Rill's table has no per-key
/// specifications, so the flags follow the command: writers `RW update`, others `RO access`.
fn getkeysandflags(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let positions = match key_positions(&args[2..]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let writes = find(&args[2])
        .map(|spec| {
            if spec.subcommands.is_empty() {
                spec.has_flag("write")
            } else {
                let sub = String::from_utf8_lossy(&args[3]).to_ascii_lowercase();
                spec.subcommands
                    .iter()
                    .any(|s| s.name.split('|').nth(1) == Some(sub.as_str()) && s.has_flag("write"))
            }
        })
        .unwrap_or(false);
    let flags = if writes {
        ["RW", "update"]
    } else {
        ["RO", "access"]
    };
    Reply::Array(
        positions
            .into_iter()
            .map(|i| {
                Reply::Array(vec![
                    Reply::Bulk(args[2 + i].clone()),
                    Reply::Set(flags.iter().map(|f| Reply::simple(f)).collect()),
                ])
            })
            .collect(),
    )
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "command",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Reply, Session};

    use crate::test_support::run;

    fn array(reply: Reply) -> Vec<Reply> {
        match reply {
            Reply::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn simple_set(items: &[&str]) -> Reply {
        Reply::Set(items.iter().map(|i| Reply::simple(i)).collect())
    }

    fn texts(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|i| Reply::text(*i)).collect())
    }

    #[test]
    fn count_and_all() {
        let mut s = Engine::new().session();
        let n = super::table().len() as i64;
        assert_eq!(run(&mut s, &["COMMAND", "COUNT"]), Reply::Integer(n));
        assert_eq!(array(run(&mut s, &["COMMAND"])).len() as i64, n);
        assert_eq!(array(run(&mut s, &["COMMAND", "INFO"])).len() as i64, n);
        assert_eq!(
            run(&mut s, &["COMMAND", "COUNT", "x"]),
            Reply::error("ERR wrong number of arguments for 'command|count' command")
        );
    }

    #[test]
    fn info_format() {
        let mut s = Engine::new().session();
        let xadd = Reply::Array(vec![
            Reply::text("xadd"),
            Reply::Integer(-5),
            simple_set(&["write", "denyoom", "fast"]),
            Reply::Integer(1),
            Reply::Integer(1),
            Reply::Integer(1),
            simple_set(&["@write", "@stream", "@fast"]),
            Reply::Set(Vec::new()),
            Reply::Set(Vec::new()),
            Reply::Set(Vec::new()),
        ]);
        assert_eq!(
            run(&mut s, &["COMMAND", "INFO", "XADD", "nosuch"]),
            Reply::Array(vec![xadd, Reply::Null])
        );
        // Flags come out in Redis's order whatever the table says.
        let xread = array(run(&mut s, &["COMMAND", "INFO", "xread"]));
        assert_eq!(
            array(xread[0].clone())[2],
            simple_set(&["readonly", "blocking", "movablekeys"])
        );
    }

    #[test]
    fn info_of_containers_and_subcommands() {
        let mut s = Engine::new().session();
        let config = array(array(run(&mut s, &["COMMAND", "INFO", "config"])).remove(0));
        assert_eq!(config[0], Reply::text("config"));
        assert_eq!(config[2], Reply::Set(Vec::new()));
        assert_eq!(config[6], simple_set(&["@slow"]));
        let subs = array(config[9].clone());
        assert!(subs
            .iter()
            .any(|sub| array(sub.clone())[0] == Reply::text("config|get")));
        let kill = array(array(run(&mut s, &["COMMAND", "INFO", "CLIENT|KILL"])).remove(0));
        assert_eq!(kill[0], Reply::text("client|kill"));
        assert_eq!(kill[1], Reply::Integer(-3));
        assert_eq!(
            array(run(&mut s, &["COMMAND", "INFO", "client|nosuch"])),
            vec![Reply::Null]
        );
    }

    #[test]
    fn docs() {
        let mut s = Engine::new().session();
        let reply = run(&mut s, &["COMMAND", "DOCS", "xadd", "nosuch"]);
        let Reply::Map(entries) = reply else {
            panic!("{reply:?}");
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, Reply::text("xadd"));
        let Reply::Map(doc) = &entries[0].1 else {
            panic!("{entries:?}");
        };
        assert_eq!(doc[1], (Reply::text("since"), Reply::text("5.0.0")));
        assert_eq!(doc[2], (Reply::text("group"), Reply::text("stream")));
        let reply = run(&mut s, &["COMMAND", "DOCS", "CLIENT"]);
        let Reply::Map(entries) = reply else {
            panic!("{reply:?}");
        };
        let Reply::Map(doc) = &entries[0].1 else {
            panic!("{entries:?}");
        };
        let subcommands = doc.iter().find(|(k, _)| *k == Reply::text("subcommands"));
        assert!(
            matches!(subcommands, Some((_, Reply::Map(subs))) if subs.iter().any(|(k, _)| *k == Reply::text("client|setname")))
        );
    }

    #[test]
    fn list_and_filters() {
        let mut s = Engine::new().session();
        let all = array(run(&mut s, &["COMMAND", "LIST"]));
        assert!(all.contains(&Reply::text("client|setname")) && all.contains(&Reply::text("xadd")));
        let config = run(
            &mut s,
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*"],
        );
        assert_eq!(
            config,
            texts(&[
                "config",
                "config|get",
                "config|set",
                "config|resetstat",
                "config|rewrite",
                "config|help"
            ])
        );
        let streams = array(run(
            &mut s,
            &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "stream"],
        ));
        assert!(streams.contains(&Reply::text("xadd")) && !streams.contains(&Reply::text("ping")));
        assert!(
            !streams.contains(&Reply::text("xinfo"))
                && streams.contains(&Reply::text("xinfo|stream"))
        );
        assert_eq!(
            run(
                &mut s,
                &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "@stream"]
            ),
            texts(&[])
        );
        assert_eq!(
            run(&mut s, &["COMMAND", "LIST", "FILTERBY", "MODULE", "m"]),
            texts(&[])
        );
        for bad in [
            vec!["x"],
            vec!["FILTERBY", "foo", "x"],
            vec!["FILTERBY", "PATTERN"],
        ] {
            let mut words = vec!["COMMAND", "LIST"];
            words.extend(bad);
            assert_eq!(run(&mut s, &words), Reply::error("ERR syntax error"));
        }
    }

    #[test]
    fn getkeys() {
        let mut s = Engine::new().session();
        let keys = |s: &mut Session, words: &[&str]| {
            let mut all = vec!["COMMAND", "GETKEYS"];
            all.extend(words);
            run(s, &all)
        };
        assert_eq!(keys(&mut s, &["XADD", "s", "*", "f", "v"]), texts(&["s"]));
        assert_eq!(
            keys(
                &mut s,
                &["xread", "COUNT", "1", "STREAMS", "a", "b", "0", "0"]
            ),
            texts(&["a", "b"])
        );
        assert_eq!(
            keys(&mut s, &["xread", "streams", "a", "b", "c"]),
            texts(&["a"])
        );
        assert_eq!(keys(&mut s, &["xinfo", "stream", "s"]), texts(&["s"]));
        assert_eq!(keys(&mut s, &["watch", "a", "b"]), texts(&["a", "b"]));
        assert_eq!(
            keys(&mut s, &["eval", "x", "2", "a", "b", "c"]),
            texts(&["a", "b"])
        );
        assert_eq!(keys(&mut s, &["eval", "x", "0"]), texts(&[]));
        let invalid_args = Reply::error("ERR Invalid arguments specified for command");
        assert_eq!(keys(&mut s, &["xread", "count", "1", "x"]), invalid_args);
        assert_eq!(
            keys(&mut s, &["ping", "x"]),
            Reply::error("ERR The command has no key arguments")
        );
        let invalid_command = Reply::error("ERR Invalid command specified");
        assert_eq!(keys(&mut s, &["nosuch", "a"]), invalid_command);
        assert_eq!(keys(&mut s, &["xinfo", "nosuch", "s"]), invalid_command);
        assert_eq!(
            keys(&mut s, &["xadd", "s"]),
            Reply::error("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(
            run(
                &mut s,
                &["COMMAND", "GETKEYSANDFLAGS", "xadd", "s", "*", "f", "v"]
            ),
            Reply::Array(vec![Reply::Array(vec![
                Reply::text("s"),
                simple_set(&["RW", "update"])
            ])])
        );
        assert_eq!(
            run(&mut s, &["COMMAND", "GETKEYSANDFLAGS", "xlen", "s"]),
            Reply::Array(vec![Reply::Array(vec![
                Reply::text("s"),
                simple_set(&["RO", "access"])
            ])])
        );
    }

    #[test]
    fn help_and_unknown_subcommand() {
        let mut s = Engine::new().session();
        let help = array(run(&mut s, &["COMMAND", "HELP"]));
        assert_eq!(help.len(), 21);
        assert_eq!(help[20], Reply::simple("    Prints this help."));
        assert_eq!(
            run(&mut s, &["COMMAND", "FOO"]),
            Reply::error("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
        );
    }
}
