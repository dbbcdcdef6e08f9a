//! A minimal blocking RESP client: one TCP connection, one command, exactly one reply.
//!
//! Blocking std I/O keeps the harness independent of the async runtime the server under test
//! uses, and makes "what did the server answer to *this* command" trivially true.

use crate::reply::Reply;
use crate::resp::{decode_reply, encode_command};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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

/// Sends `input` raw on a fresh connection, then reads until the server closes or stays quiet
/// for 300 ms. Returns what came back and whether the server closed the connection: how
/// malformed and hostile input is compared between servers.
pub fn exchange(addr: SocketAddr, input: &[u8]) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_millis(300))).ok();
    s.write_all(input)
        .unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return (out, false)
            }
            Err(_) => return (out, true),
        }
    }
}
