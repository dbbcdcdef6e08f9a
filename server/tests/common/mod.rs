//! What the binary's tests share: starting a server process on a free port and talking to it.

#![allow(dead_code)]

pub mod resp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rill-server");

/// A port nothing listens on right now.
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

/// Starts `command` (the binary, redis-server, or a shell that execs one) and waits until
/// `host:port` accepts connections.
/// It runs in a fresh temporary working directory: a server whose `dir` is the default `.`
/// saves its dump.rdb there on SIGTERM (as Redis does with its default save points), never
/// in the source tree, and never loads another test's file.
pub fn start_command(mut command: Command, host: &str, port: u16) -> Server {
    command.current_dir(work_dir(port));
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(15);
    // Listening is not enough: a server loading its log answers LOADING until it is done.
    while !answers(host, port) {
        assert!(
            Instant::now() < deadline,
            "{command:?} did not start answering"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
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
/// with anything but LOADING (PONG, or a refusal some tests expect).
fn answers(host: &str, port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((host, port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(1))).ok();
    if s.write_all(b"PING\r\n").is_err() {
        return true;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    n > 0 && !buf[..n].starts_with(b"-LOADING")
}

/// Starts the binary on a free port with `args`.
pub fn start(args: &[&str]) -> Server {
    let port = free_port();
    let mut command = Command::new(BIN);
    command.args(["--port", &port.to_string()]).args(args);
    start_command(command, "127.0.0.1", port)
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
