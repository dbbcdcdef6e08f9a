//! The `rill-server` binary's limits and safety settings, as an operator meets them: bad
//! directives, the open-files limit, idle timeouts, protected mode, the accept backlog, log
//! files, and a client that never reads its replies.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rill-server");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (the binary, or a shell that execs it) and waits until `host:port`
/// accepts connections.
fn start_command(mut command: Command, host: &str, port: u16) -> Server {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((host, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "rill-server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

fn start(args: &[&str]) -> Server {
    let port = free_port();
    let mut command = Command::new(BIN);
    command.args(["--port", &port.to_string()]).args(args);
    start_command(command, "127.0.0.1", port)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s
}

/// Sends an inline command and reads what comes back in one read.
fn call(s: &mut TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Whether the server closed `s` within `within` (a read timing out means it did not).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).ok();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn run_to_exit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

#[test]
fn unknown_directives_and_unsupported_values_stop_the_start() {
    let out = run_to_exit(&["--port", "0", "--latency-tracking", "no"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .contains(">>> 'latency-tracking \"no\"'\nBad directive or wrong number of arguments"),
        "{stderr}"
    );

    let dir = std::env::temp_dir().join(format!("rill-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let conf = dir.join("rill.conf");
    std::fs::write(&conf, "port 0\n\nappendonly yes\n").unwrap_or_else(|e| panic!("write: {e}"));
    let out = run_to_exit(&[conf.to_str().unwrap_or_default()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Reading the configuration file, at line 3"),
        "{stderr}"
    );
    assert!(stderr.contains("'yes' is not supported"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);

    let out = run_to_exit(&["--port", "0", "--maxclients", "9223372036854775807"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("argument must be between 1 and 4294967295 inclusive"),
        "{stderr}"
    );
}

#[test]
fn a_low_open_files_limit_lowers_maxclients_and_extra_clients_get_an_error() {
    let port = free_port();
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("ulimit -n 64 && exec {BIN} --port {port} --maxclients 1000"),
    ]);
    let server = start_command(command, "127.0.0.1", port);
    let mut admin = connect(server.port);
    // 64 descriptors, 32 kept for the server: 32 clients.
    assert_eq!(
        call(&mut admin, "CONFIG GET maxclients"),
        "*2\r\n$10\r\nmaxclients\r\n$2\r\n32\r\n"
    );
    let mut clients = vec![admin];
    for _ in 0..31 {
        let mut c = connect(server.port);
        assert_eq!(call(&mut c, "PING"), "+PONG\r\n");
        clients.push(c);
    }
    for _ in 0..5 {
        let mut extra = connect(server.port);
        let mut reply = String::new();
        let _ = extra.read_to_string(&mut reply);
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
    }
    // Everyone already in is still served.
    assert_eq!(call(&mut clients[5], "PING"), "+PONG\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout_but_blocked_ones_are_not() {
    let server = start(&["--timeout", "1", "--hz", "50"]);
    let mut idle = connect(server.port);
    assert_eq!(call(&mut idle, "PING"), "+PONG\r\n");
    let mut blocked = connect(server.port);
    blocked
        .write_all(b"XREAD BLOCK 0 STREAMS s $\r\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut active = connect(server.port);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3500) {
        assert_eq!(call(&mut active, "PING"), "+PONG\r\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        closed_within(&mut idle, Duration::from_millis(100)),
        "an idle client outlived timeout 1"
    );
    // The blocked client is still there: a write serves it.
    assert!(call(&mut active, "XADD s 1-1 f v").contains("1-1"));
    blocked.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = [0u8; 256];
    let n = blocked.read(&mut buf).unwrap_or(0);
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("1-1"),
        "the blocked client was closed by timeout"
    );
}

/// This host's address on a non-loopback interface, if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let probe = UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_denies_remote_clients_without_a_password() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("SKIPPED protected mode: this host has no non-loopback address");
        return;
    };
    let server = start(&["--bind", "0.0.0.0"]);
    let mut remote =
        TcpStream::connect((ip, server.port)).unwrap_or_else(|e| panic!("connect {ip}: {e}"));
    remote.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reply = String::new();
    let _ = remote.write_all(b"PING\r\n");
    let _ = remote.read_to_string(&mut reply);
    assert!(
        reply.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
        "{reply}"
    );
    // Loopback clients are served, and may turn protected mode off.
    let mut local = connect(server.port);
    assert_eq!(call(&mut local, "CONFIG SET protected-mode no"), "+OK\r\n");
    let mut remote =
        TcpStream::connect((ip, server.port)).unwrap_or_else(|e| panic!("connect {ip}: {e}"));
    remote.set_read_timeout(Some(Duration::from_secs(5))).ok();
    assert_eq!(call(&mut remote, "PING"), "+PONG\r\n");
}

#[test]
fn tcp_backlog_sizes_the_accept_queue() {
    let server = start(&["--tcp-backlog", "7"]);
    let mut c = connect(server.port);
    assert_eq!(
        call(&mut c, "CONFIG GET tcp-backlog"),
        "*2\r\n$11\r\ntcp-backlog\r\n$1\r\n7\r\n"
    );
    let Ok(out) = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", server.port)])
        .output()
    else {
        eprintln!("SKIPPED backlog check: `ss` (iproute2) is not installed");
        return;
    };
    // For a listening socket, ss shows the backlog in the Send-Q column.
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let send_q = line.split_whitespace().nth(2).unwrap_or_default();
    assert_eq!(send_q, "7", "ss said: {line}");
}

#[test]
fn logs_go_to_the_logfile_at_the_loglevel() {
    let dir = std::env::temp_dir().join(format!("rill-logfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let log = dir.join("rill.log");
    let log_arg = log.to_str().unwrap_or_default().to_string();
    {
        let _server = start(&["--logfile", &log_arg]);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("ready to accept connections"), "{text}");
    std::fs::remove_file(&log).unwrap_or_else(|e| panic!("rm: {e}"));
    {
        let _server = start(&["--logfile", &log_arg, "--loglevel", "warning"]);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("ready to accept connections"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// INFO's `used_memory` (the binary counts every allocation).
fn used_memory(c: &mut TcpStream) -> u64 {
    let info = call(c, "INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no used_memory in {info}"))
}

#[test]
fn a_client_that_never_reads_cannot_grow_the_server_and_others_are_served() {
    let server = start(&[]);
    let mut admin = connect(server.port);
    // 500 entries of 200 bytes: each XRANGE answers about 110 KB.
    let value = "x".repeat(200);
    for _ in 0..5 {
        let mut pipeline = String::new();
        for _ in 0..100 {
            pipeline.push_str(&format!("XADD s * f {value}\r\n"));
        }
        admin
            .write_all(pipeline.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut got = 0;
        let mut buf = [0u8; 8192];
        while got < 100 {
            let n = admin.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "server hung up");
            got += buf[..n].iter().filter(|&&b| b == b'\n').count() / 2;
        }
    }
    let before = used_memory(&mut admin);
    // 20,000 pipelined XRANGEs would be about 2 GB of replies; the client reads none.
    let mut rude = connect(server.port);
    let request = b"XRANGE s - +\r\n".repeat(1000);
    let writer = std::thread::spawn(move || {
        rude.set_write_timeout(Some(Duration::from_secs(3))).ok();
        for _ in 0..20 {
            if rude.write_all(&request).is_err() {
                break;
            }
        }
        rude
    });
    std::thread::sleep(Duration::from_secs(2));
    // Others are served meanwhile.
    let started = Instant::now();
    assert_eq!(call(&mut admin, "PING"), "+PONG\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "another client waited {:?}",
        started.elapsed()
    );
    let after = used_memory(&mut admin);
    assert!(
        after < before + 16 * 1024 * 1024,
        "a client that never reads grew the server from {before} to {after} bytes"
    );
    drop(writer.join());
}
