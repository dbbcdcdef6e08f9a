//! The oracle: Debian's `redis-server`, started on a free port for one test and killed on drop.
//!
//! Without `redis-server` the differential tests cannot say anything. They skip with a loud
//! warning on a developer machine, and fail when `RILL_REQUIRE_REDIS=1` (set it in CI, where a
//! silent skip would hide every regression).

use crate::client::Connection;
use crate::reply::Reply;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to turn a missing `redis-server` into a test failure instead of a skip.
pub const REQUIRE_REDIS_ENV: &str = "RILL_REQUIRE_REDIS";

/// How long a freshly started redis-server gets to answer PING.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// redis-server cannot bind port 0, so a port is chosen first; another process may grab it in
/// between, hence a few attempts.
const START_ATTEMPTS: usize = 5;

/// A running `redis-server` child process with its own scratch directory.
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a redis-server, or returns `None` (after a loud warning) when it is not installed.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing and `RILL_REQUIRE_REDIS=1`, or when it is installed but
    /// will not start: that is a broken test environment, not a reason to skip.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// Like [`RedisServer::start`], with more command-line directives (`--cluster-enabled
    /// yes`...). The port is one whose cluster bus port (+10000) is free too.
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let Some(binary) = find_on_path("redis-server") else {
            if std::env::var(REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                panic!(
                    "redis-server was not found on PATH, and {REQUIRE_REDIS_ENV}=1 requires it. \
                     Install it (Debian: apt-get install redis-server) or unset {REQUIRE_REDIS_ENV}."
                );
            }
            warn_skipping();
            return None;
        };
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match launch(&binary, extra, None, None) {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!(
            "redis-server at {} failed to start {START_ATTEMPTS} times: {last_error}",
            binary.display()
        );
    }

    /// Like [`RedisServer::start`], on `port` (where another server just stopped: a client
    /// of that address finds Redis there when it reconnects), loading `rdb` when given (a
    /// copy, as its `dump.rdb`).
    pub fn start_on(port: u16, rdb: Option<&Path>) -> Option<RedisServer> {
        let Some(binary) = find_on_path("redis-server") else {
            if std::env::var(REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                panic!("redis-server was not found on PATH, and {REQUIRE_REDIS_ENV}=1 requires it");
            }
            warn_skipping();
            return None;
        };
        // The previous server's sockets may hold the port a moment longer.
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match launch(&binary, &[], Some(port), rdb) {
                Ok(server) => return Some(server),
                Err(e) if Instant::now() > deadline => {
                    panic!("redis-server on port {port} failed to start: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends the server process `signal` (`-STOP` hangs it, `-CONT` resumes it), as a test
    /// of a client facing a server that stopped answering.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill {signal} redis-server"
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The skip must be impossible to miss in test output: a skipped differential run proves nothing.
/// Written straight to the process's stderr, not through `eprintln!`, so the test harness
/// does not capture it: a skip must be seen even when every test passes.
fn warn_skipping() {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n\
         ##################################################################\n\
         ##  WARNING: redis-server NOT FOUND ON PATH                     ##\n\
         ##  The differential tests against Redis are SKIPPED.           ##\n\
         ##  Nothing about Redis compatibility was checked.              ##\n\
         ##  Install redis-server, or set {REQUIRE_REDIS_ENV}=1 to fail.     ##\n\
         ##################################################################\n"
    );
}

/// Looks an executable up on PATH like a shell would.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Asks the kernel for a free port by binding port 0, then releases it for redis-server;
/// one whose cluster bus port (+10000) is free too, for cluster nodes.
fn free_port() -> std::io::Result<u16> {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        if port <= u16::MAX - 10_000
            && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10_000)).is_ok()
        {
            return Ok(port);
        }
    }
}

/// A fresh scratch directory for one server (`--dir`), removed on drop.
fn scratch_dir() -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rill-oracle-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts one redis-server and waits for PONG.
fn launch(
    binary: &Path,
    extra: &[&str],
    port: Option<u16>,
    rdb: Option<&Path>,
) -> Result<RedisServer, String> {
    let port = match port {
        Some(port) => port,
        None => free_port().map_err(|e| format!("no free port: {e}"))?,
    };
    let dir = scratch_dir().map_err(|e| format!("no scratch dir: {e}"))?;
    if let Some(rdb) = rdb {
        std::fs::copy(rdb, dir.join("dump.rdb")).map_err(|e| format!("copy {rdb:?}: {e}"))?;
    }
    let log = dir.join("redis.log");
    let child = Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--daemonize", "no", "--dir"])
        .arg(&dir)
        .args(extra)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn failed: {e}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // From here on, Drop kills the child and removes the directory on every exit path.
    let mut server = RedisServer { child, addr, dir };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("exited with {status} on port {port}; log:\n{log}"));
        }
        if let Ok(mut conn) = Connection::open(addr) {
            if is_ours(&mut conn, &server.dir) {
                return Ok(server);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no PONG on port {port} within {STARTUP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when the server behind `conn` answers PING and is the one we started: another process
/// may have taken the port between `free_port` and the launch, and answering PING is not proof.
fn is_ours(conn: &mut Connection, dir: &Path) -> bool {
    if !matches!(conn.call(&["PING"]), Ok(Reply::Simple(pong)) if pong == b"PONG") {
        return false;
    }
    let expected = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match conn.call(&["CONFIG", "GET", "dir"]) {
        Ok(Reply::Array(items)) => {
            items.get(1).and_then(Reply::as_text) == Some(expected.as_os_str().as_encoded_bytes())
        }
        _ => false,
    }
}
