//! The listening socket and what happens to a connection before it becomes a client: the
//! accept backlog (`tcp-backlog`), keepalive (`tcp-keepalive`), `maxclients`, protected mode,
//! and running out of file descriptors without leaving clients hanging.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rill_engine::Engine;
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Redis's answer to a client past `maxclients`.
pub const MAX_CLIENTS_REACHED: &[u8] = b"-ERR max number of clients reached\r\n";

/// Redis's answer to a non-loopback client while protected mode is on, word for word, so
/// that users find the same advice they would get from Redis.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Binds every address of a `bind` directive (`127.0.0.1 -::1`, `* -::*`): `*` is every IPv4
/// address, `::*` every IPv6 one, and a leading `-` marks an address that may be missing
/// (skipped with a warning when it cannot be bound), as in Redis. With port 0 the first
/// address picks a free port and the others use the same one.
pub fn bind_all(addresses: &str, port: u16, backlog: i32) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    for word in addresses.split_whitespace() {
        let (optional, host) = match word.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let port = match listeners.first() {
            Some(first) if port == 0 => first.local_addr()?.port(),
            _ => port,
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match bind(&addr, backlog) {
            Ok(listener) => listeners.push(listener),
            Err(e) if optional => {
                tracing::warn!("Could not bind optional address {addr}, skipping: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if listeners.is_empty() {
        return Err(std::io::Error::other(format!(
            "Failed listening on port {port} (tcp), aborting: no address of '{addresses}' could be bound"
        )));
    }
    Ok(listeners)
}

/// Waits for a connection on any of `listeners`; returns which one and what accept gave.
pub async fn accept_any(
    listeners: &[TcpListener],
) -> (usize, std::io::Result<(TcpStream, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        for (i, listener) in listeners.iter().enumerate() {
            if let std::task::Poll::Ready(result) = listener.poll_accept(cx) {
                return std::task::Poll::Ready((i, result));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Binds `addr` with the accept queue `backlog` long (`tcp-backlog`), warning as Redis does
/// when the kernel caps it lower.
pub fn bind(addr: &str, backlog: i32) -> std::io::Result<TcpListener> {
    let described = |e: std::io::Error| {
        std::io::Error::new(
            e.kind(),
            format!("Could not create server TCP listening socket {addr}: bind: {e}"),
        )
    };
    let target: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(addr)
        .map_err(described)?
        .next()
        .ok_or_else(|| described(std::io::Error::other("no address")))?;
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    if target.is_ipv6() {
        // As Redis does: `::` must not claim the IPv4 addresses too, or `bind * ::*` would
        // collide with itself.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&target.into()).map_err(described)?;
    socket.listen(backlog).map_err(described)?;
    if let Some(cap) = somaxconn() {
        if cap < i64::from(backlog) {
            tracing::warn!(
                "WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {cap}."
            );
        }
    }
    TcpListener::from_std(socket.into())
}

fn somaxconn() -> Option<i64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether the peer is on this host (127.0.0.0/8 or ::1, or an IPv4-mapped loopback).
pub fn is_loopback(peer: &SocketAddr) -> bool {
    match peer {
        SocketAddr::V4(a) => a.ip().is_loopback(),
        SocketAddr::V6(a) => {
            a.ip().is_loopback() || a.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Turns on TCP keepalive as Redis's `anetKeepAlive` does: first probe after `interval`
/// seconds of silence, then every third of it, and the peer is dead after three unanswered
/// probes. Dead peers (a crashed host, a cut cable) are then noticed and their connections
/// closed instead of lingering forever.
pub fn set_keepalive(socket: &TcpStream, interval: u64) {
    if interval == 0 {
        return;
    }
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(interval))
        .with_interval(Duration::from_secs((interval / 3).max(1)))
        .with_retries(3);
    if let Err(e) = SockRef::from(socket).set_tcp_keepalive(&keepalive) {
        tracing::debug!("cannot set TCP keepalive: {e}");
    }
}

/// What decides whether an accepted connection becomes a client.
pub enum Admission {
    /// Serve it.
    Admit,
    /// Answer this and close.
    Refuse(&'static [u8]),
}

/// Applies `maxclients` and protected mode to a new connection, as Redis does in that order.
pub fn admit(engine: &Engine, peer: &SocketAddr) -> Admission {
    if engine.client_count() >= engine.config_int("maxclients") as usize {
        engine.count_connection(false);
        return Admission::Refuse(MAX_CLIENTS_REACHED);
    }
    if !is_loopback(peer) && engine.protected_mode_active() {
        return Admission::Refuse(DENIED.as_bytes());
    }
    engine.count_connection(true);
    Admission::Admit
}

/// Writes a refusal and closes, without holding up the accept loop for a peer that does not
/// read.
pub async fn refuse(mut socket: TcpStream, answer: &'static [u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.write_all(answer)).await;
}

/// A file descriptor held back for the moment the process runs out of them: accept then
/// fails with EMFILE and the pending connection would wait in the backlog, its client
/// hanging. Closing the spare lets one such connection be accepted, told "max number of
/// clients reached" and closed; then the spare is taken again.
pub struct SpareDescriptor {
    file: Option<std::fs::File>,
}

impl SpareDescriptor {
    /// Opens the spare descriptor.
    pub fn new() -> SpareDescriptor {
        SpareDescriptor {
            file: std::fs::File::open("/dev/null").ok(),
        }
    }

    /// Uses the spare to refuse one waiting connection; true when one was refused.
    pub async fn refuse_one(&mut self, listener: &TcpListener) -> bool {
        self.file = None;
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        let refused = match accepted {
            Ok(Ok((socket, _))) => {
                refuse(socket, MAX_CLIENTS_REACHED).await;
                true
            }
            _ => false,
        };
        self.file = std::fs::File::open("/dev/null").ok();
        refused
    }
}

impl Default for SpareDescriptor {
    fn default() -> Self {
        SpareDescriptor::new()
    }
}

/// Logs failed accepts at most once a second, with how many were not logged: under a flood
/// of EMFILE errors the log must not become the next problem.
#[derive(Default)]
pub struct AcceptErrors {
    last: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Records one failure, logging it unless one was logged less than a second ago.
    pub fn record(&mut self, error: &std::io::Error) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                "Accepting client connection: {error} ({} more failures in the last second)",
                self.suppressed
            );
        } else {
            tracing::warn!("Accepting client connection: {error}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Whether an accept error means the process or system ran out of file descriptors.
pub fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keepalive_follows_redis_timings() {
        let listener = bind("127.0.0.1:0", 16).unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let client = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        set_keepalive(&client, 300);
        let socket = SockRef::from(&client);
        assert_eq!(socket.keepalive().ok(), Some(true));
        assert_eq!(
            socket.tcp_keepalive_time().ok(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            socket.tcp_keepalive_interval().ok(),
            Some(Duration::from_secs(100))
        );
        assert_eq!(socket.tcp_keepalive_retries().ok(), Some(3));
    }

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second() {
        let mut errors = AcceptErrors::default();
        let e = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(out_of_descriptors(&e));
        for _ in 0..100 {
            errors.record(&e);
        }
        assert_eq!(errors.suppressed, 99);
    }

    #[tokio::test]
    async fn several_addresses_share_one_port_and_optional_ones_may_fail() {
        let listeners =
            bind_all("127.0.0.1 -::1 -192.0.2.254", 0, 16).unwrap_or_else(|e| panic!("bind: {e}"));
        let ports: Vec<u16> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.port())
            .collect();
        assert!(!ports.is_empty() && ports.iter().all(|p| *p == ports[0]));
        assert!(bind_all("192.0.2.254", 0, 16).is_err());
        // `* ::*`: all IPv4 and all IPv6 addresses on one port, which needs IPV6_V6ONLY.
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            let all = bind_all("* ::*", 0, 16).unwrap_or_else(|e| panic!("bind * ::*: {e}"));
            assert_eq!(all.len(), 2);
        }
    }

    #[test]
    fn loopback_peers() {
        let local: SocketAddr = "127.0.0.5:1".parse().unwrap_or_else(|e| panic!("{e}"));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let remote: SocketAddr = "192.0.2.2:1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(is_loopback(&local) && is_loopback(&mapped) && !is_loopback(&remote));
    }
}
