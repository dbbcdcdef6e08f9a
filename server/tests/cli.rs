//! The `rill-server` binary as a user runs it: flags, config file, port conflicts, signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{free_port, wait_until_ours, BIN};

/// Starts the binary with the arguments `args` makes for a free port, waits until it answers,
/// and answers it and its port; again on another port if it exits first (another test's
/// server took the port). It runs in a fresh temporary directory: on SIGTERM it saves
/// dump.rdb there (Redis's default save points), not in the source tree.
fn start(args: impl Fn(&str) -> Vec<String>) -> (Child, u16) {
    const TRIES: usize = 5;
    for attempt in 1..=TRIES {
        let port = free_port();
        let cwd = std::env::temp_dir().join(format!("rill-cli-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&cwd);
        let mut child = Command::new(BIN)
            .args(args(&port.to_string()))
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        match wait_until_ours(&mut child, "127.0.0.1", port) {
            Ok(()) => return (child, port),
            Err(status) if attempt < TRIES => {
                eprintln!("rill-server exited with {status} before answering; another port");
            }
            Err(status) => panic!("rill-server exited with {status} before answering"),
        }
    }
    unreachable!("the last try returns or panics")
}

/// Arguments as [`start`] takes them.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn call(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(request)
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rill-server did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn flags_and_sigterm() {
    let (mut child, port) = start(|p| strings(&["--port", p, "--requirepass", "pw"]));
    assert_eq!(
        call(port, b"PING\r\n"),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(call(port, b"AUTH pw\r\n"), "+OK\r\n");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
    assert_eq!(wait_exit(&mut child), 0);
}

#[test]
fn used_memory_comes_from_the_counting_allocator() {
    let (mut child, port) = start(|p| strings(&["--port", p]));
    let used = |port| {
        let info = call(port, b"INFO memory\r\n");
        info.split("\r\n")
            .find_map(|l| {
                l.strip_prefix("used_memory:")
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let before = used(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
    // Values that do not compress (sealed stream nodes are packed with LZ4), 1,000 bytes each.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let batch: String = (0..1000)
        .map(|i| {
            let value = common::incompressible(&mut state, 1000);
            format!("XADD s {}-1 f {value}\r\n", i + 1)
        })
        .collect();
    s.write_all(batch.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut replies = 0;
    let mut buf = [0u8; 65536];
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    while replies < 1000 {
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "server stopped answering");
        replies += buf[..n].iter().filter(|&&b| b == b'$').count();
    }
    let after = used(port);
    // A thousand ~1 KB entries: the counter must have grown by about a megabyte.
    assert!(after > before + 850_000, "used_memory {before} -> {after}");
    call(port, b"SHUTDOWN\r\n");
    assert_eq!(wait_exit(&mut child), 0);
}

#[test]
fn config_file_then_shutdown_command() {
    let dir = std::env::temp_dir().join(format!("rill-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let conf = dir.join("rill.conf");
    let (mut child, port) = start(|port| {
        std::fs::write(
            &conf,
            format!("# test config\nport {port}\nstream-node-max-entries 7\nsave \"\"\n"),
        )
        .unwrap_or_else(|e| panic!("write conf: {e}"));
        vec![conf.display().to_string()]
    });
    assert_eq!(
        call(port, b"CONFIG GET stream-node-max-entries\r\n"),
        "*2\r\n$23\r\nstream-node-max-entries\r\n$1\r\n7\r\n"
    );
    // SHUTDOWN closes the connection without a reply and the process exits cleanly.
    assert_eq!(call(port, b"SHUTDOWN\r\n"), "");
    assert_eq!(wait_exit(&mut child), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn port_taken_is_one_clear_line_and_a_failure() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = holder
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(0)
        .to_string();
    let mut child = Command::new(BIN)
        .args(["--port", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let code = wait_exit(&mut child);
    assert_eq!(code, 1);
    let mut err = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            err.push_str(&line);
            err.push('\n');
        }
    }
    assert!(
        err.contains(&format!(
            "Could not create server TCP listening socket 127.0.0.1:{port}: bind:"
        )),
        "stderr was: {err}"
    );
    assert_eq!(err.lines().count(), 1, "stderr was: {err}");
}

#[test]
fn bad_flag_value_is_refused() {
    let out = Command::new(BIN)
        .args(["--port", "notaport"])
        .output()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid port 'notaport'"));
}
