//! Reply injection: client bytes with CR/LF echoed in an error must never split the reply.
//!
//! For every position where a command echoes what the client sent (key, group, consumer,
//! option, subcommand, config name, command name, a protocol error's byte), the hostile
//! command and a `GET` of a missing key go down one connection in one write. The first reply
//! must be one line, byte for byte what Redis answers, and the `GET` must still answer nil:
//! before the fix, a group name of `g\r\n$6\r\nhacked` made that `GET` answer "hacked".

use std::net::SocketAddr;

use rill_tests::client::exchange;
use rill_tests::oracle::RedisServer;
use rill_tests::resp::encode_command;

/// The payload: if a server echoed it raw, the bytes after the first CR/LF would be read by
/// the client as the reply to its next command.
const EVIL: &[u8] = b"x\r\n$6\r\nhacked\r\n";

fn rill() -> rill_server::RunningServer {
    rill_tests::rill::in_process()
}

/// Every command that echoes client bytes in its error, with the hostile bytes in that place.
fn hostile_commands() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let e = EVIL.to_vec();
    let w = |s: &str| s.as_bytes().to_vec();
    vec![
        (
            "XREADGROUP group",
            vec![
                w("XREADGROUP"),
                w("GROUP"),
                e.clone(),
                w("c"),
                w("STREAMS"),
                w("s"),
                w(">"),
            ],
        ),
        (
            "XREADGROUP key",
            vec![
                w("XREADGROUP"),
                w("GROUP"),
                w("g"),
                w("c"),
                w("STREAMS"),
                e.clone(),
                w(">"),
            ],
        ),
        ("XPENDING group", vec![w("XPENDING"), w("s"), e.clone()]),
        ("XPENDING key", vec![w("XPENDING"), e.clone(), w("g")]),
        (
            "XCLAIM group",
            vec![w("XCLAIM"), w("s"), e.clone(), w("c"), w("0"), w("0-1")],
        ),
        (
            "XCLAIM option",
            vec![
                w("XCLAIM"),
                w("s"),
                w("g"),
                w("c"),
                w("0"),
                w("0-1"),
                e.clone(),
            ],
        ),
        (
            "XAUTOCLAIM group",
            vec![w("XAUTOCLAIM"), w("s"), e.clone(), w("c"), w("0"), w("0")],
        ),
        (
            "XINFO CONSUMERS group",
            vec![w("XINFO"), w("CONSUMERS"), w("s"), e.clone()],
        ),
        (
            "XGROUP SETID group",
            vec![w("XGROUP"), w("SETID"), w("s"), e.clone(), w("0")],
        ),
        (
            "XGROUP DELCONSUMER group",
            vec![w("XGROUP"), w("DELCONSUMER"), w("s"), e.clone(), w("c")],
        ),
        (
            "XGROUP CREATECONSUMER group",
            vec![w("XGROUP"), w("CREATECONSUMER"), w("s"), e.clone(), w("c")],
        ),
        (
            "XGROUP CREATECONSUMER consumer",
            vec![w("XGROUP"), w("CREATECONSUMER"), w("s"), w("g"), e.clone()],
        ),
        ("XINFO subcommand", vec![w("XINFO"), e.clone()]),
        ("XGROUP subcommand", vec![w("XGROUP"), e.clone()]),
        ("CONFIG subcommand", vec![w("CONFIG"), e.clone()]),
        ("CLIENT subcommand", vec![w("CLIENT"), e.clone()]),
        ("COMMAND subcommand", vec![w("COMMAND"), e.clone()]),
        (
            "CONFIG SET name",
            vec![w("CONFIG"), w("SET"), e.clone(), w("1")],
        ),
        ("CONFIG GET name", vec![w("CONFIG"), w("GET"), e.clone()]),
        ("command name", vec![e.clone(), w("arg")]),
        ("command argument", vec![w("NOSUCHCOMMAND"), e.clone()]),
        (
            "XADD option",
            vec![w("XADD"), w("s"), e.clone(), w("f"), w("v")],
        ),
        (
            "XREAD option",
            vec![w("XREAD"), e.clone(), w("STREAMS"), w("s"), w("0")],
        ),
        (
            "XINFO STREAM option",
            vec![w("XINFO"), w("STREAM"), w("s"), e.clone()],
        ),
    ]
}

/// Creates the stream `s` with group `g`, so the hostile commands reach the code that echoes.
fn prepare(addr: SocketAddr) {
    let mut setup = Vec::new();
    setup.extend(encode_command(&["XADD", "s", "1-1", "f", "v"]));
    setup.extend(encode_command(&["XGROUP", "CREATE", "s", "g", "0"]));
    let (out, _) = exchange(addr, &setup);
    assert_eq!(out, b"$3\r\n1-1\r\n+OK\r\n", "setup failed");
}

/// The first line and what follows it: the hostile command's reply and the rest.
fn split_first_reply(out: &[u8]) -> (&[u8], &[u8]) {
    let end = out
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + 2)
        .unwrap_or(out.len());
    out.split_at(end)
}

#[test]
fn echoed_crlf_never_splits_a_reply() {
    let rill = rill();
    prepare(rill.addr());
    let redis = RedisServer::start();
    if let Some(redis) = &redis {
        prepare(redis.addr());
    }
    // QUIT closes the connection right after the GET's reply, so no read waits for silence.
    let mut get = encode_command(&["GET", "missing"]);
    get.extend(encode_command(&["QUIT"]));
    let mut failures = Vec::new();
    for (name, command) in hostile_commands() {
        let mut input = encode_command(&command);
        input.extend_from_slice(&get);
        let (out, _) = exchange(rill.addr(), &input);
        let (first, rest) = split_first_reply(&out);
        // A line reply holding the payload, then exactly the nil of the GET.
        let one_line = matches!(first.first(), Some(b'-' | b'+' | b':')) || first == b"*0\r\n";
        if !one_line || rest != b"$-1\r\n+OK\r\n" {
            failures.push(format!(
                "{name}: rill answered {:?}",
                String::from_utf8_lossy(&out)
            ));
            continue;
        }
        if let Some(redis) = &redis {
            let (expected, _) = exchange(redis.addr(), &input);
            if expected != out {
                failures.push(format!(
                    "{name}:\n  redis: {:?}\n  rill:  {:?}",
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&out)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inline_command_name_with_escaped_crlf_stays_one_line() {
    let rill = rill();
    // Inside double quotes an inline command may spell CR and LF as escapes.
    let input = b"\"hack\\r\\n+OK\" x\r\nGET missing\r\nQUIT\r\n";
    let (out, _) = exchange(rill.addr(), input);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "-ERR unknown command 'hack  +OK', with args beginning with: 'x' \r\n$-1\r\n+OK\r\n"
    );
    if let Some(redis) = RedisServer::start() {
        assert_eq!(exchange(redis.addr(), input).0, out);
    }
}

#[test]
fn protocol_error_echoing_a_line_break_is_one_line() {
    let rill = rill();
    // The byte where a `$` should be is a CR: the error names it, then the connection closes.
    let input = b"*1\r\n\r\n*1\r\n$4\r\nPING\r\n";
    let (out, closed) = exchange(rill.addr(), input);
    assert!(closed, "a protocol error closes the connection");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "-ERR Protocol error: expected '$', got ' '\r\n"
    );
    if let Some(redis) = RedisServer::start() {
        assert_eq!(exchange(redis.addr(), input), (out, closed));
    }
}
