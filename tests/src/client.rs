//! A minimal blocking RESP client: one TCP connection, one command, exactly one reply.
//!
//! Blocking std I/O keeps the harness independent of the async runtime the server under test
//! uses, and makes "what did the server answer to *this* command" trivially true.

use crate::reply::Reply;
use crate::resp::{decode_reply, encode_command};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a reply may take before the harness calls it missing. Every case command is fast;
/// a server that does not answer within this is hung or waiting for more input.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to a Redis-compatible server.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet consumed by a decoded reply (pipelined replies, partial frames).
    pending: Vec<u8>,
}

impl Connection {
    /// Connects with timeouts, so a dead server fails a test instead of hanging it.
    pub fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            pending: Vec::new(),
        })
    }

    /// Changes how long a read may wait (`None`: forever). Blocking commands (`XREADGROUP ...
    /// BLOCK 0`) legitimately wait longer than [`REPLY_TIMEOUT`]; their tests bound the wait
    /// themselves, with a message that says what was being waited for.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sends one command as a RESP array of bulk strings.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send_raw(&encode_command(args))
    }

    /// Sends bytes verbatim: inline commands, malformed frames, pipelines.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads exactly one reply frame. EOF before a full frame is `UnexpectedEof`.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            if !self.pending.is_empty() {
                let decoded = decode_reply(&self.pending)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if let Some((reply, used)) = decoded {
                    self.pending.drain(..used);
                    return Ok(reply);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by server",
                ));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Reply> {
        self.send(args)?;
        self.read_reply()
    }
}

/// Turns an I/O failure into the reply the report shows, so "the server hung up" is compared
/// like any other answer (both servers closing after `QUIT` is a match).
pub fn failure_as_reply(err: &io::Error) -> Reply {
    match err.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => Reply::Missing("connection closed".into()),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Reply::Missing(format!("timed out after {}s", REPLY_TIMEOUT.as_secs()))
        }
        _ => Reply::Missing(err.to_string()),
    }
}

/// What [`exchange`] sends after the input: a PING whose reply (a bulk string no test sends)
/// marks the end of the answers on a connection the server keeps open.
const EXCHANGE_FENCE: &str = "rill-exchange-end";

/// Sends `input` raw on a fresh connection and reads until the server closes the connection
/// or has answered all of it. Returns what came back and whether the server closed the
/// connection: how malformed and hostile input is compared between servers.
///
/// An input that ends a line is followed by a PING fence, whose reply (left out) marks the
/// end of the answers on a connection the server keeps open: a quiet moment is no proof, as
/// a stall would cut a reply short. Such an input must end at a command boundary or make the
/// server close the connection (a fence inside a frame would be read as part of it). Only if
/// the fence goes unanswered (the server waits for the rest of a frame, or for the end of an
/// inline line it cut at a NUL as Redis does) does a second of silence end the reading. An
/// input that ends in the middle of a line gets no fence (it would end the line): the server
/// must close the connection, or the reading ends after [`REPLY_TIMEOUT`] of silence.
pub fn exchange(addr: SocketAddr, input: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let fenced = input.ends_with(b"\n");
    let quiet = if fenced {
        Duration::from_secs(1)
    } else {
        REPLY_TIMEOUT
    };
    s.set_read_timeout(Some(quiet)).ok();
    // One write: a server that closes on the input has read the fence with it, so it closes
    // as it would without.
    let mut sent = input.to_vec();
    if fenced {
        sent.extend(encode_command(&["PING", EXCHANGE_FENCE]));
    }
    if let Err(e) = s.write_all(&sent) {
        // Closed while the input was written (its end refused): what came back says why.
        if !matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            panic!("write to {addr}: {e}");
        }
    }
    let fence_reply = format!("${}\r\n{EXCHANGE_FENCE}\r\n", EXCHANGE_FENCE.len());
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if fenced && out.ends_with(fence_reply.as_bytes()) {
            out.truncate(out.len() - fence_reply.len());
            return (out, false);
        }
        if Instant::now() > deadline {
            return (out, false);
        }
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return (out, false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (out, true),
        }
    }
}
