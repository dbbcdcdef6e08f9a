//! What the binary's tests share: starting a server process on a free port and talking to it.

#![allow(dead_code)]

pub mod resp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rill-server");

/// A port nothing listens on right now. Another test's server may take it before this
/// test's server binds it: start servers with [`start_on_free_port`], which tries again.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the command `build` makes for a free port (the binary, redis-server, or a shell
/// that execs one) and waits until the server there answers as the one started; again on a
/// new port when it exits first: between [`free_port`] and the server's bind, another test's
/// server may take the port. It runs in a fresh temporary working directory: a server whose
/// `dir` is the default `.` saves its dump.rdb there on SIGTERM (as Redis does with its
/// default save points), never in the source tree, and never loads another test's file.
pub fn start_on_free_port(host: &str, build: impl Fn(u16) -> Command) -> Server {
    const TRIES: usize = 5;
    for attempt in 1..=TRIES {
        let port = free_port();
        let mut command = build(port);
        let mut server = spawn_in_work_dir(&mut command, port);
        match wait_until_ours(&mut server.child, host, port) {
            Ok(()) => return server,
            Err(status) if attempt < TRIES => {
                eprintln!("{command:?} exited with {status} before answering; another port");
            }
            Err(status) => panic!("{command:?} exited with {status} before answering"),
        }
    }
    unreachable!("the last try returns or panics")
}

fn spawn_in_work_dir(command: &mut Command, port: u16) -> Server {
    command.current_dir(work_dir(port));
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    Server { child, port }
}

/// Waits until the server `child` started on `host:port` answers, and is the one answering
/// (not another test's server that took the port first); the child's exit status if it
/// exits first (as a server does when its port is taken).
pub fn wait_until_ours(child: &mut Child, host: &str, port: u16) -> Result<(), ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(status);
        }
        // Listening is not enough: a server loading its log answers LOADING until it is done.
        if answers_as(host, port, child.id()) {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "the server on port {port} did not start answering"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh, empty scratch directory named after `tag` (and this test process).
pub fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rill-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    dir
}

/// A directory as a command-line argument.
pub fn d(dir: &std::path::Path) -> &str {
    dir.to_str().unwrap_or_default()
}

/// A fresh, empty working directory for the server on `port`.
pub fn work_dir(port: u16) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rill-cwd-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Whether the server at `host:port` accepts a connection and answers PING within a second
/// with anything but LOADING (PONG, or a refusal some tests expect), and is process `pid`:
/// the `process_id` of its `INFO server`, unless it refuses INFO too (a password). One
/// connection, as a server with few descriptors may have only one to spare.
fn answers_as(host: &str, port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect((host, port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    if s.write_all(b"PING\r\n").is_err() {
        return true;
    }
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    if n == 0 || buf[..n].starts_with(b"-LOADING") {
        return false;
    }
    if buf[0] == b'-' || s.write_all(b"INFO server\r\n").is_err() {
        return true;
    }
    let mut info = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&info);
        if text.starts_with('-') && text.contains("\r\n") {
            return true;
        }
        if let Some((_, rest)) = text.split_once("\r\nprocess_id:") {
            if let Some((id, _)) = rest.split_once("\r\n") {
                return id.parse() == Ok(pid);
            }
        }
        match s.read(&mut buf) {
            Ok(n) if n > 0 => info.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
}

/// Starts the binary on a free port with `args`.
pub fn start(args: &[&str]) -> Server {
    start_on_free_port("127.0.0.1", |port| {
        let mut command = Command::new(BIN);
        command.args(["--port", &port.to_string()]).args(args);
        command
    })
}

/// A connection with a 5 s read timeout.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s
}

/// Sends an inline command and reads what comes back in one read.
pub fn call(s: &mut TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Hex digits of a xorshift sequence that `state` carries from call to call: values that
/// LZ4 cannot shrink, for tests that measure memory (sealed stream nodes are packed).
pub fn incompressible(state: &mut u64, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out.push_str(&format!("{:016x}", *state));
    }
    out.truncate(len);
    out
}
