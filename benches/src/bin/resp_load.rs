//! `resp_load`: a RESP load generator that counts replies without building them, so that a
//! server comparison measures the servers and not the client.
//!
//! ```sh
//! cargo run --release -p rill-benches --bin resp_load -- -p PORT -n REQUESTS -c CLIENTS -P DEPTH [-r KEYSPACE] COMMAND ARGS...
//! ```
//!
//! It takes redis-benchmark's options of the same names and does what redis-benchmark does with
//! them: `CLIENTS` connections, each writing `DEPTH` commands at a time and reading their `DEPTH`
//! replies before the next write, until `REQUESTS` replies have arrived; every `__rand_int__` in
//! an argument becomes a 12-digit number below `KEYSPACE`, drawn anew for each occurrence of
//! each command. It differs in one way: redis-benchmark has hiredis build every reply as a tree
//! of allocated objects and frees it, which for range replies (XRANGE COUNT 10 is some fifty
//! objects) keeps its own core busy before either server is; this client walks a reply's bytes
//! to find where it ends and looks at nothing else but its type (an error reply stops the run).
//!
//! Prints `rps <requests per second>` on success; on an error reply or a lost connection, the
//! reason on stderr and exit status 1. One thread (a current-thread runtime), as
//! redis-benchmark's default, so it fits on the one core a comparison gives the client.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What redis-benchmark puts in an argument's place: 12 digits, zero-padded.
const RANDOM_MARKER: &[u8] = b"__rand_int__";
const RANDOM_DIGITS: usize = 12;

struct Options {
    host: String,
    port: u16,
    requests: u64,
    clients: usize,
    depth: usize,
    keyspace: Option<u64>,
    command: Vec<Vec<u8>>,
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        host: "127.0.0.1".into(),
        port: 6379,
        requests: 100_000,
        clients: 50,
        depth: 1,
        keyspace: None,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" => options.host = value("-h")?,
            "-p" => options.port = number(&value("-p")?)?,
            "-n" => options.requests = number(&value("-n")?)?,
            "-c" => options.clients = number(&value("-c")?)?,
            "-P" => options.depth = number(&value("-P")?)?,
            "-r" => options.keyspace = Some(number(&value("-r")?)?),
            _ => {
                options.command.push(arg.into_bytes());
                options
                    .command
                    .extend(args.by_ref().map(String::into_bytes));
            }
        }
    }
    if options.command.is_empty() || options.clients == 0 || options.depth == 0 {
        return Err(
            "Usage: resp_load [-h HOST] [-p PORT] [-n REQUESTS] [-c CLIENTS] [-P DEPTH] \
                    [-r KEYSPACE] COMMAND ARGS..."
                .into(),
        );
    }
    if options.keyspace == Some(0) {
        return Err("-r must be at least 1".into());
    }
    Ok(options)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

/// The command's RESP encoding with the offsets of each `__rand_int__` left to fill in: the
/// markers are written as 12 placeholder digits, so filling one in never moves the others.
struct CommandTemplate {
    encoded: Vec<u8>,
    random_at: Vec<usize>,
}

impl CommandTemplate {
    fn new(args: &[Vec<u8>], randomize: bool) -> CommandTemplate {
        let mut encoded = format!("*{}\r\n", args.len()).into_bytes();
        let mut random_at = Vec::new();
        for arg in args {
            let mut text = Vec::with_capacity(arg.len());
            let mut markers = Vec::new();
            let mut rest = &arg[..];
            while let Some(at) = randomize
                .then(|| {
                    rest.windows(RANDOM_MARKER.len())
                        .position(|w| w == RANDOM_MARKER)
                })
                .flatten()
            {
                text.extend_from_slice(&rest[..at]);
                markers.push(text.len());
                text.extend_from_slice(&[b'0'; RANDOM_DIGITS]);
                rest = &rest[at + RANDOM_MARKER.len()..];
            }
            text.extend_from_slice(rest);
            encoded.extend_from_slice(format!("${}\r\n", text.len()).as_bytes());
            random_at.extend(markers.iter().map(|m| encoded.len() + m));
            encoded.extend_from_slice(&text);
            encoded.extend_from_slice(b"\r\n");
        }
        CommandTemplate { encoded, random_at }
    }

    /// Appends one command to `out`, each marker a fresh number below `keyspace`.
    fn write_to(&self, out: &mut Vec<u8>, keyspace: u64, random: &mut Random) {
        let start = out.len();
        out.extend_from_slice(&self.encoded);
        for &at in &self.random_at {
            let mut value = random.below(keyspace);
            for digit in out[start + at..start + at + RANDOM_DIGITS].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
    }
}

/// xorshift64*: the numbers only have to spread over the keyspace, cheaply.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// How one complete reply at the start of a buffer ended.
#[derive(Debug, PartialEq)]
enum Scanned {
    /// A reply of this many bytes, not an error.
    Reply(usize),
    /// An error reply (`-` or RESP3 `!`) of this many bytes, with its text.
    Error(usize, String),
    /// The buffer holds only the start of a reply.
    Incomplete,
}

/// Where the reply starting at `buf[at..]` ends, walking its elements without keeping them.
/// `Err` for bytes that are not RESP.
fn scan(buf: &[u8], at: usize) -> Result<Scanned, String> {
    let Some((kind, header, after)) = line(buf, at) else {
        return Ok(Scanned::Incomplete);
    };
    match kind {
        b'+' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Scanned::Reply(after - at)),
        b'-' => Ok(Scanned::Error(
            after - at,
            String::from_utf8_lossy(header).into_owned(),
        )),
        b'$' | b'=' | b'!' => {
            let length = length(header)?;
            if length < 0 {
                return Ok(Scanned::Reply(after - at));
            }
            let end = after + length as usize + 2;
            if end > buf.len() {
                return Ok(Scanned::Incomplete);
            }
            if kind == b'!' {
                let text = String::from_utf8_lossy(&buf[after..end - 2]).into_owned();
                return Ok(Scanned::Error(end - at, text));
            }
            Ok(Scanned::Reply(end - at))
        }
        b'>' => Err("a push message: this client never subscribes or asks for RESP3".into()),
        b'*' | b'~' | b'%' | b'|' => {
            let count = length(header)?;
            let elements = if matches!(kind, b'%' | b'|') {
                count * 2
            } else {
                count
            };
            let mut next = after;
            for _ in 0..elements.max(0) {
                match scan(buf, next)? {
                    Scanned::Reply(size) | Scanned::Error(size, _) => next += size,
                    Scanned::Incomplete => return Ok(Scanned::Incomplete),
                }
            }
            if kind == b'|' {
                // An attribute precedes the reply it describes.
                return match scan(buf, next)? {
                    Scanned::Reply(size) => Ok(Scanned::Reply(next + size - at)),
                    Scanned::Error(size, text) => Ok(Scanned::Error(next + size - at, text)),
                    Scanned::Incomplete => Ok(Scanned::Incomplete),
                };
            }
            Ok(Scanned::Reply(next - at))
        }
        other => Err(format!("not a RESP reply: type byte {other:#04x}")),
    }
}

/// The type byte at `buf[at]`, the rest of its line, and where the next line starts.
fn line(buf: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let kind = *buf.get(at)?;
    let end = at + 1 + buf.get(at + 1..)?.windows(2).position(|w| w == b"\r\n")?;
    Some((kind, &buf[at + 1..end], end + 2))
}

fn length(header: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(header)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(header)))
}

/// Requests not yet handed to a connection, shared by the connections of the one thread.
struct Budget(Cell<u64>);

impl Budget {
    /// Up to `depth` requests for the next write; 0 when the run is done.
    fn take(&self, depth: usize) -> usize {
        let left = self.0.get();
        let taken = left.min(depth as u64);
        self.0.set(left - taken);
        taken as usize
    }
}

/// One connection's part of the run: write a batch, count its replies, repeat.
async fn drive(
    mut stream: TcpStream,
    template: Rc<CommandTemplate>,
    keyspace: u64,
    depth: usize,
    budget: Rc<Budget>,
    seed: u64,
) -> Result<(), String> {
    let mut random = Random(seed | 1);
    let mut out = Vec::with_capacity(template.encoded.len() * depth);
    let mut input = vec![0u8; 64 * 1024];
    let (mut filled, mut scanned) = (0usize, 0usize);
    loop {
        let batch = budget.take(depth);
        if batch == 0 {
            return Ok(());
        }
        out.clear();
        for _ in 0..batch {
            template.write_to(&mut out, keyspace, &mut random);
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut replies = 0;
        while replies < batch {
            match scan(&input[..filled], scanned)? {
                Scanned::Reply(size) => {
                    scanned += size;
                    replies += 1;
                    continue;
                }
                Scanned::Error(_, text) => return Err(format!("Error from server: {text}")),
                Scanned::Incomplete => {}
            }
            // Keep the unread start of a reply and read more after it. The reply is scanned
            // again from its start after each read: nothing for replies of a few KB, as the
            // comparison's are; a reply of megabytes arriving in many reads would cost the
            // client time quadratic in its size (keep such workloads for redis-benchmark).
            input.copy_within(scanned..filled, 0);
            filled -= scanned;
            scanned = 0;
            if filled == input.len() {
                input.resize(input.len() * 2, 0);
            }
            let read = stream
                .read(&mut input[filled..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
            filled += read;
        }
    }
}

async fn run(options: Options) -> Result<f64, String> {
    let template = Rc::new(CommandTemplate::new(
        &options.command,
        options.keyspace.is_some(),
    ));
    let keyspace = options.keyspace.unwrap_or(1);
    let address = format!("{}:{}", options.host, options.port);
    let mut streams = Vec::with_capacity(options.clients);
    for _ in 0..options.clients {
        let stream = TcpStream::connect(&address)
            .await
            .map_err(|e| format!("connect to {address}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        streams.push(stream);
    }
    let budget = Rc::new(Budget(Cell::new(options.requests)));
    let started = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1);
            tokio::task::spawn_local(drive(
                stream,
                template.clone(),
                keyspace,
                options.depth,
                budget.clone(),
                seed,
            ))
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(options.requests as f64 / started.elapsed().as_secs_f64())
}

/// [`run`] on a current-thread runtime: the one core a comparison gives the client.
fn run_on_one_thread(options: Options) -> Result<f64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(tokio::task::LocalSet::new().run_until(run(options)))
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run_on_one_thread(options) {
        Ok(rps) => {
            println!("rps {rps:.2}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_end_of_nested_replies_and_waits_for_partial_ones() {
        let reply = b"*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*-1\r\n";
        assert_eq!(scan(reply, 0), Ok(Scanned::Reply(reply.len())));
        for cut in 0..reply.len() {
            assert_eq!(
                scan(&reply[..cut], 0),
                Ok(Scanned::Incomplete),
                "cut at {cut}"
            );
        }
        let map = b"%1\r\n+a\r\n:1\r\n_\r\n";
        assert_eq!(scan(map, 0), Ok(Scanned::Reply(map.len() - 3)));
        assert_eq!(
            scan(b"-ERR no\r\n", 0),
            Ok(Scanned::Error(9, "ERR no".into()))
        );
        assert!(scan(b"?\r\n", 0).is_err());
        assert!(
            scan(b">2\r\n+message\r\n+hi\r\n", 0).is_err(),
            "a push is no reply"
        );
    }

    /// Runs `command` against a real rill-server through `run`.
    fn load(
        server: &rill::testing::TestServer,
        requests: u64,
        command: &[&str],
    ) -> Result<f64, String> {
        let options = Options {
            host: "127.0.0.1".into(),
            port: server.addr().port(),
            requests,
            clients: 3,
            depth: 7,
            keyspace: Some(1000),
            command: command.iter().map(|a| a.as_bytes().to_vec()).collect(),
        };
        run_on_one_thread(options)
    }

    #[test]
    fn a_run_sends_every_request_once_and_stops_at_an_error_reply() {
        let server = rill::testing::TestServer::start().expect("server");
        // 100 requests over 3 connections in batches of 7: the last batches are partial.
        load(&server, 100, &["XADD", "s", "*", "n", "__rand_int__"]).expect("XADD run");
        load(&server, 50, &["XRANGE", "s", "-", "+", "COUNT", "60"]).expect("XRANGE run");
        let mut session = server.engine().session();
        let length = session.execute(&["XLEN".into(), "s".into()]);
        assert!(
            matches!(length, rill_engine::Reply::Integer(100)),
            "{length:?}"
        );
        let error = load(&server, 10, &["XADD", "s", "0-1", "f", "v"]).unwrap_err();
        assert!(error.contains("ERR The ID specified in XADD"), "{error}");
    }

    #[test]
    fn random_markers_become_twelve_digits_below_the_keyspace() {
        let template = CommandTemplate::new(
            &[
                b"XACK".to_vec(),
                b"s".to_vec(),
                b"1-__rand_int__x__rand_int__".to_vec(),
            ],
            true,
        );
        let mut out = Vec::new();
        let mut random = Random(7);
        for _ in 0..100 {
            out.clear();
            template.write_to(&mut out, 1000, &mut random);
            let text = String::from_utf8(out.clone()).unwrap();
            let last = text.split("\r\n").nth(6).unwrap();
            assert_eq!(last.len(), 2 + 12 + 1 + 12, "{text}");
            let (a, b) = last[2..].split_once('x').unwrap();
            assert!(a.parse::<u64>().unwrap() < 1000 && b.parse::<u64>().unwrap() < 1000);
            assert!(
                text.starts_with("*3\r\n$4\r\nXACK\r\n$1\r\ns\r\n$27\r\n"),
                "{text}"
            );
        }
    }
}
