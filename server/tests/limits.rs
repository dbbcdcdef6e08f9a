//! The `rill-server` binary's limits and safety settings, as an operator meets them: bad
//! directives, the open-files limit, idle timeouts, protected mode, the accept backlog, log
//! files, and a client that never reads its replies.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

use common::{call, connect, incompressible, start, start_on_free_port, Server, BIN};

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
    std::fs::write(&conf, "port 0\n\nsave \"3600\"\n").unwrap_or_else(|e| panic!("write: {e}"));
    let out = run_to_exit(&[conf.to_str().unwrap_or_default()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Reading the configuration file, at line 3"),
        "{stderr}"
    );
    assert!(stderr.contains("Invalid save parameters"), "{stderr}");
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
    let server = start_on_free_port("127.0.0.1", |port| {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            &format!("ulimit -n 64 && exec {BIN} --port {port} --maxclients 1000"),
        ]);
        command
    });
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
    // Raising maxclients past what the descriptors allow is refused, as in Redis.
    assert_eq!(
        call(&mut clients[0], "CONFIG SET maxclients 1000"),
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 32\r\n"
    );
    assert_eq!(call(&mut clients[0], "CONFIG SET maxclients 20"), "+OK\r\n");
}

/// Idle clients are closed after `timeout`; as in Redis, blocked clients and subscribers
/// (RESP2 and RESP3) are not idle: they wait for the server.
#[test]
fn idle_clients_are_closed_after_timeout_but_blocked_ones_are_not() {
    let server = start(&["--timeout", "1", "--hz", "50"]);
    let mut idle = connect(server.port);
    assert_eq!(call(&mut idle, "PING"), "+PONG\r\n");
    let mut blocked = connect(server.port);
    blocked
        .write_all(b"XREAD BLOCK 0 STREAMS s $\r\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut subscriber = connect(server.port);
    assert!(call(&mut subscriber, "SUBSCRIBE news").contains("subscribe"));
    let mut subscriber3 = connect(server.port);
    assert!(call(&mut subscriber3, "HELLO 3").contains("proto"));
    assert!(call(&mut subscriber3, "SUBSCRIBE news").contains("subscribe"));
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
    for (who, c) in [("RESP2", &mut subscriber), ("RESP3", &mut subscriber3)] {
        let pong = call(c, "PING");
        assert!(
            pong.contains("pong") || pong.contains("PONG"),
            "{who} subscriber: {pong:?}"
        );
    }
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
    // A PING answered means the accept loop runs, so the start-up lines are written.
    let ping = |server: &Server| assert_eq!(call(&mut connect(server.port), "PING"), "+PONG\r\n");
    {
        let server = start(&["--logfile", &log_arg]);
        ping(&server);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("ready to accept connections"), "{text}");
    std::fs::remove_file(&log).unwrap_or_else(|e| panic!("rm: {e}"));
    {
        let server = start(&["--logfile", &log_arg, "--loglevel", "warning"]);
        ping(&server);
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

/// One field of INFO (any section).
fn info_field(c: &mut TcpStream, section: &str, field: &str) -> u64 {
    let info = call(c, &format!("INFO {section}"));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {info}"))
}

/// Sends `lines` as one pipeline and reads one reply per command, returning each reply's
/// first line (a bulk reply's second line, its data, is read and dropped).
fn pipeline(c: &mut TcpStream, lines: &[String]) -> Vec<String> {
    let mut request = String::new();
    for line in lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    c.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut replies = Vec::new();
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while replies.len() < lines.len() {
        let n = c.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "server hung up");
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&pending[..end]).into_owned();
            let data = match line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                Some(len) => len + 2,
                None => 0,
            };
            if pending.len() < end + 2 + data {
                break;
            }
            replies.push(line);
            pending.drain(..end + 2 + data);
        }
    }
    replies
}

/// `SET prefix:0 value` ... `SET prefix:{n-1} value`.
fn sets(prefix: &str, n: usize, value: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!("SET {prefix}:{i} {value}"))
        .collect()
}

#[test]
fn noeviction_refuses_writes_with_redis_oom_error_and_frees_on_delete() {
    let server = start(&["--maxmemory", "8mb"]);
    let mut c = connect(server.port);
    let value = "v".repeat(10_000);
    let mut refused = None;
    'fill: for batch in 0..20 {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("SET k:{batch}:{i} {value}"))
            .collect();
        for (i, reply) in pipeline(&mut c, &lines).into_iter().enumerate() {
            if reply.starts_with('-') {
                refused = Some((reply, batch * 100 + i));
                break 'fill;
            }
        }
    }
    let Some((error, at)) = refused else {
        panic!("20 MB of SETs under maxmemory 8mb were all accepted")
    };
    assert_eq!(
        error,
        "-OOM command not allowed when used memory > 'maxmemory'."
    );
    assert!(at > 100, "refused too early, after {at} SETs");
    let used = info_field(&mut c, "memory", "used_memory");
    assert!(used < 10 << 20, "used_memory {used} is far past maxmemory");
    // Reads and deletes still run; a delete makes room again.
    assert!(call(&mut c, "GET k:0:0").starts_with("$10000"));
    assert_eq!(call(&mut c, "FLUSHALL"), "+OK\r\n");
    assert_eq!(call(&mut c, "SET again v"), "+OK\r\n");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn allkeys_lru_evicts_the_least_recently_used_and_stays_under_maxmemory() {
    let server = start(&["--maxmemory", "16mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = connect(server.port);
    let value = "v".repeat(10_000);
    let set = |prefix: &str, n: usize| sets(prefix, n, &value);
    // Old keys, then new ones written over three seconds while a hot set keeps being read:
    // the LRU clock counts seconds, as Redis's does.
    assert!(pipeline(&mut c, &set("hot", 100))
        .iter()
        .all(|r| r == "+OK"));
    assert!(pipeline(&mut c, &set("old", 600))
        .iter()
        .all(|r| r == "+OK"));
    std::thread::sleep(Duration::from_millis(1100));
    let reads: Vec<String> = (0..100).map(|i| format!("STRLEN hot:{i}")).collect();
    // 30 MB more: every write succeeds, keys go instead.
    for batch in 0..30 {
        let replies = pipeline(&mut c, &set(&format!("new{batch}"), 100));
        assert!(replies.iter().all(|r| r == "+OK"), "{replies:?}");
        let hot = pipeline(&mut c, &reads);
        assert!(
            hot.iter().filter(|r| *r == ":10000").count() > 50,
            "hot keys evicted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let used = info_field(&mut c, "memory", "used_memory");
    assert!(used <= 17 << 20, "used_memory {used} over maxmemory 16mb");
    assert!(info_field(&mut c, "stats", "evicted_keys") > 1000);
    let exists = |c: &mut TcpStream, prefix: &str, n: usize| -> usize {
        let lines: Vec<String> = (0..n).map(|i| format!("EXISTS {prefix}:{i}")).collect();
        pipeline(c, &lines).iter().filter(|r| *r == ":1").count()
    };
    let hot = exists(&mut c, "hot", 100);
    let old = exists(&mut c, "old", 600);
    assert!(
        hot >= 85 && old < 60,
        "LRU kept {hot}/100 recently read keys and {old}/600 old ones"
    );
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    let server = start(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-ttl"]);
    let mut c = connect(server.port);
    let value = "v".repeat(10_000);
    // Keys without a TTL are never evicted; among those with one, the soonest to expire go.
    let lines: Vec<String> = (0..300)
        .map(|i| format!("SET ttl:{i} {value} EX {}", 1000 + i))
        .collect();
    assert!(pipeline(&mut c, &lines).iter().all(|r| r == "+OK"));
    let lines: Vec<String> = (0..300).map(|i| format!("SET keep:{i} {value}")).collect();
    let replies = pipeline(&mut c, &lines);
    let kept = replies.iter().filter(|r| *r == "+OK").count();
    assert!(kept > 200, "only {kept} writes succeeded");
    assert!(info_field(&mut c, "stats", "evicted_keys") > 0);
    // The longest TTLs survived, the shortest went first.
    assert_eq!(call(&mut c, "EXISTS ttl:0"), ":0\r\n");
    assert_eq!(call(&mut c, "EXISTS keep:0"), ":1\r\n");
    // Once no key has a TTL, nothing can go: writes are refused.
    let lines: Vec<String> = (300..900)
        .map(|i| format!("SET keep:{i} {value}"))
        .collect();
    let replies = pipeline(&mut c, &lines);
    assert!(
        replies
            .iter()
            .any(|r| r == "-OOM command not allowed when used memory > 'maxmemory'."),
        "writes never refused once only keys without TTL were left"
    );
    assert_eq!(call(&mut c, "EXISTS keep:0"), ":1\r\n");
}

#[test]
fn accounted_memory_tracks_resident_memory_for_streams() {
    let server = start(&[]);
    let mut c = connect(server.port);
    let used_before = info_field(&mut c, "memory", "used_memory") as f64;
    let rss_before = info_field(&mut c, "memory", "used_memory_rss") as f64;
    // Values that do not compress (sealed stream nodes are packed with LZ4), 60 bytes each.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..200 {
        let lines: Vec<String> = (0..500)
            .map(|_| {
                let fields: String = (0..5)
                    .map(|f| format!(" field{f} {}", incompressible(&mut state, 60)))
                    .collect();
                format!("XADD s *{fields}")
            })
            .collect();
        let replies = pipeline(&mut c, &lines);
        assert!(
            replies.iter().all(|r| r.starts_with('$')),
            "{:?}",
            replies[0]
        );
    }
    // What the data added, as the allocator counts it and as the kernel sees it (the
    // process's fixed few MB of code and stacks are in RSS from the start, as in Redis).
    let used = info_field(&mut c, "memory", "used_memory") as f64 - used_before;
    let rss = info_field(&mut c, "memory", "used_memory_rss") as f64 - rss_before;
    let ratio = rss / used;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "100,000 five-field entries: used_memory grew {used}, rss {rss}, ratio {ratio:.3}"
    );
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    let server = start(&["--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lfu"]);
    let mut c = connect(server.port);
    let value = "v".repeat(10_000);
    let set = |prefix: &str, n: usize| sets(prefix, n, &value);
    assert!(pipeline(&mut c, &set("hot", 50)).iter().all(|r| r == "+OK"));
    // Fifty reads each: the counters of the hot keys climb (logarithmically).
    let reads: Vec<String> = (0..50)
        .flat_map(|_| (0..50).map(|i| format!("STRLEN hot:{i}")))
        .collect();
    assert!(pipeline(&mut c, &reads).iter().all(|r| r == ":10000"));
    for batch in 0..20 {
        let replies = pipeline(&mut c, &set(&format!("once{batch}"), 100));
        assert!(replies.iter().all(|r| r == "+OK"), "{replies:?}");
    }
    assert!(info_field(&mut c, "stats", "evicted_keys") > 1000);
    let lines: Vec<String> = (0..50).map(|i| format!("EXISTS hot:{i}")).collect();
    let hot = pipeline(&mut c, &lines)
        .iter()
        .filter(|r| *r == ":1")
        .count();
    assert!(hot >= 45, "LFU kept only {hot}/50 frequently read keys");
}

#[test]
fn an_idle_connection_holds_no_buffers() {
    let server = start(&[]);
    let mut admin = connect(server.port);
    let before = info_field(&mut admin, "memory", "used_memory");
    let mut idle = Vec::new();
    for _ in 0..500 {
        let mut c = connect(server.port);
        assert_eq!(call(&mut c, "PING"), "+PONG\r\n");
        idle.push(c);
    }
    // The allocator's own count, not RSS: what the server holds per client after a command.
    let per_client = (info_field(&mut admin, "memory", "used_memory") - before) / 500;
    assert!(
        per_client < 2048,
        "an idle client that sent one command holds {per_client} bytes"
    );
}
