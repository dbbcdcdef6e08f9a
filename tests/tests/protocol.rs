//! Malformed and hostile input over real sockets: both servers get the same bytes and must
//! answer the same bytes, then close (or not) the same way. A client that breaks the protocol
//! or vanishes mid-frame must never disturb another client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rill_tests::client::exchange;
use rill_tests::oracle::RedisServer;

fn rill() -> rill_server::RunningServer {
    rill_tests::rill::in_process()
}

const CASES: &[(&str, &[u8])] = &[
    ("bad multibulk length", b"*x\r\n"),
    ("multibulk length too large", b"*3000000000\r\n"),
    ("not a bulk", b"*1\r\n:1\r\n"),
    ("negative bulk length", b"*1\r\n$-5\r\n"),
    (
        "bulk length over proto-max-bulk-len",
        b"*1\r\n$600000000\r\n",
    ),
    ("bulk length not a number", b"*1\r\n$abc\r\n"),
    ("unbalanced quotes inline", b"SET \"a b\r\n"),
    ("unbalanced single quote inline", b"SET 'a\r\n"),
    ("closing quote followed by text", b"SET \"a\"b c\r\n"),
    (
        "pipelined then garbage",
        b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n!\r\n",
    ),
    (
        "commands before the error still run",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$3\r\nGET\r\n*x\r\n",
    ),
    (
        "empty multibulk and blank lines are skipped",
        b"*0\r\n\r\n\r\nPING\r\n*-1\r\nPING\r\n",
    ),
    ("inline with escapes", b"ECHO \"a\\x41\\tb\"\r\n"),
    ("inline unknown command", b"NOPE a b\r\n"),
    ("binary garbage", b"\x00\xff\xfe*\r\n"),
];

#[test]
fn malformed_requests_get_redis_errors() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rill = rill();
    let mut mismatches = Vec::new();
    for (name, input) in CASES {
        let expected = exchange(redis.addr(), input);
        let got = exchange(rill.addr(), input);
        if expected != got {
            mismatches.push(format!(
                "{name}:\n  redis: {:?} closed={}\n  rill:  {:?} closed={}",
                String::from_utf8_lossy(&expected.0),
                expected.1,
                String::from_utf8_lossy(&got.0),
                got.1
            ));
        }
    }
    println!(
        "protocol: {} cases, {} mismatches",
        CASES.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn oversized_inline_request_is_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rill = rill();
    let big = vec![b'a'; 70 * 1024];
    let expected = exchange(redis.addr(), &big);
    let got = exchange(rill.addr(), &big);
    assert_eq!(
        String::from_utf8_lossy(&got.0),
        String::from_utf8_lossy(&expected.0)
    );
    assert_eq!(got.1, expected.1);
    assert!(got
        .0
        .starts_with(b"-ERR Protocol error: too big inline request"));
}

/// Reads until `expected` bytes came, failing on a stall: a server that lost track of a
/// socket's readiness would leave the client waiting for ever.
fn read_exactly(stream: &mut TcpStream, expected: usize) -> Vec<u8> {
    let mut got = vec![0u8; expected];
    stream
        .read_exact(&mut got)
        .unwrap_or_else(|e| panic!("reply of {expected} bytes did not come: {e}"));
    got
}

#[test]
fn requests_that_arrive_in_pieces_are_all_answered() {
    // The server clears a socket's readiness after a read that did not fill its buffer
    // (the socket was drained); every piece that comes later must still wake it.
    let rill = rill();
    let mut client = TcpStream::connect(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    client.set_nodelay(true).ok();
    client.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    for byte in set.chunks(1) {
        client
            .write_all(byte)
            .unwrap_or_else(|e| panic!("write: {e}"));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(read_exactly(&mut client, 5), b"+OK\r\n");

    // A value larger than the server's read buffer, in pieces of uneven size and pace.
    let value = vec![b'x'; 200_000];
    let mut frame = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    frame.extend_from_slice(&value);
    frame.extend_from_slice(b"\r\n");
    for (i, piece) in frame.chunks(3001).enumerate() {
        client
            .write_all(piece)
            .unwrap_or_else(|e| panic!("write: {e}"));
        if i % 7 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(read_exactly(&mut client, 5), b"+OK\r\n");
    client
        .write_all(b"STRLEN big\r\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(read_exactly(&mut client, 9), b":200000\r\n");

    // The same frame in one write: reads that fill their room leave bytes behind, and the
    // readiness must stay set for them.
    client
        .write_all(&frame)
        .unwrap_or_else(|e| panic!("write: {e}"));
    assert_eq!(read_exactly(&mut client, 5), b"+OK\r\n");

    // Pipelines written whole, read whole, round after round.
    let pings = b"PING\r\n".repeat(100);
    for _ in 0..50 {
        client
            .write_all(&pings)
            .unwrap_or_else(|e| panic!("write: {e}"));
        assert_eq!(read_exactly(&mut client, 700), b"+PONG\r\n".repeat(100));
    }
}

#[test]
fn a_client_vanishing_mid_frame_disturbs_no_one() {
    let rill = rill();
    let addr = rill.addr();
    let mut steady = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    steady.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for round in 0..20 {
        // Half a frame, then gone.
        {
            let mut rude = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
            let _ = rude.write_all(b"*3\r\n$4\r\nXADD\r\n$1\r\ns\r\n$100\r\nabc");
        }
        // Garbage, then gone.
        {
            let mut rude = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
            let _ = rude.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
        }
        let cmd = format!(
            "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nf\r\n${}\r\n{}\r\n",
            round.to_string().len(),
            round
        );
        steady
            .write_all(cmd.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut buf = [0u8; 64];
        let n = steady
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(
            buf[..n].starts_with(b"$"),
            "unexpected reply {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    steady
        .write_all(b"XLEN s\r\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = [0u8; 64];
    let n = steady
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert_eq!(&buf[..n], b":20\r\n");
}

#[test]
fn unauthenticated_clients_cannot_send_huge_frames() {
    let server = rill_server::Config::scratch()
        .and_then(|mut config| {
            config
                .engine
                .set("requirepass", "secret", false)
                .map_err(std::io::Error::other)?;
            rill_server::spawn(config)
        })
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let (out, closed) = exchange(server.addr(), b"*20\r\n");
    assert_eq!(
        out,
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let (out, _) = exchange(server.addr(), b"XLEN s\r\nAUTH secret\r\nXLEN s\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "-NOAUTH Authentication required.\r\n+OK\r\n:0\r\n"
    );
}
