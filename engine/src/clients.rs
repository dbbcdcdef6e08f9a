//! The registry of connected clients: what CLIENT LIST / INFO show and how CLIENT KILL reaches a
//! connection.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// A way to tell a connection to close, supplied by whoever owns it (the server's connection
/// task); the engine itself never touches sockets.
pub type KillSwitch = Arc<dyn Fn() + Send + Sync>;

/// What the registry knows of one client.
#[derive(Clone)]
pub struct ClientInfo {
    /// CLIENT ID: unique for the engine's lifetime, never reused.
    pub id: u64,
    /// Peer address as CLIENT LIST's `addr` shows it (`ip:port`); `embedded:0` for in-process
    /// sessions.
    pub addr: String,
    /// Local address the client connected to (`laddr`); `embedded:0` for in-process sessions.
    pub laddr: String,
    /// What the client calls itself; boxed because most clients never say, and every
    /// connection pays for this registry entry.
    pub names: Option<Box<ClientNames>>,
    /// Selected database, copied from the session after each command: the session's own value is
    /// the truth, this is what CLIENT LIST shows.
    pub db: usize,
    /// RESP version (2 or 3), copied from the session after each command.
    pub protocol: u8,
    /// Unix time in ms when the client connected; CLIENT LIST's `age` (seconds) counts from it.
    pub created_ms: u64,
    /// Unix time in ms of the client's last command; CLIENT LIST's `idle` (seconds) counts from it.
    pub last_interaction_ms: u64,
    /// Table name of the last command (`client|list` for a subcommand), CLIENT LIST's `cmd`; empty
    /// before the first command, and shown as `NULL` then.
    pub last_command: &'static str,
    /// Commands queued in MULTI, or -1 outside MULTI.
    pub multi: i64,
    /// Keys the client WATCHes (CLIENT LIST's `watch`).
    pub watching: usize,
    /// How CLIENT KILL closes the client; `None` for embedded sessions, which have no connection to
    /// close.
    pub kill: Option<KillSwitch>,
    /// CLIENT NO-EVICT ON: flag `e` in CLIENT LIST. Rill does not evict clients for memory
    /// (`maxmemory-clients` is not a Rill directive), so the flag only records the request.
    pub no_evict: bool,
}

/// The names a client may give itself.
#[derive(Debug, Clone, Default)]
pub struct ClientNames {
    /// Set by CLIENT SETNAME; `None` until then (shown empty).
    pub name: Option<Bytes>,
    /// The client library's name from CLIENT SETINFO LIB-NAME; `None` until sent.
    pub lib_name: Option<Bytes>,
    /// The client library's version from CLIENT SETINFO LIB-VER; `None` until sent.
    pub lib_ver: Option<Bytes>,
}

impl ClientInfo {
    /// The name from CLIENT SETNAME, if any.
    pub fn name(&self) -> Option<&Bytes> {
        self.names.as_ref().and_then(|n| n.name.as_ref())
    }

    /// The names, created on first use.
    pub fn names_mut(&mut self) -> &mut ClientNames {
        self.names.get_or_insert_with(Box::default)
    }
}

impl std::fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInfo")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .finish()
    }
}

impl ClientInfo {
    /// One line of CLIENT LIST, in Redis's field order; `subs` is what the client listens
    /// to (channels, patterns, shard channels), `blocked` whether it waits in a blocking
    /// command (flag `b`).
    pub fn line(&self, now_ms: u64, subs: (usize, usize, usize), blocked: bool) -> String {
        let text = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if subs != (0, 0, 0) {
            flags.push('P');
        }
        if self.multi >= 0 {
            flags.push('x');
        }
        if blocked {
            flags.push('b');
        }
        if self.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} watch={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            text(&self.names.as_ref().and_then(|n| n.name.clone())),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_interaction_ms) / 1000,
            flags,
            self.db,
            subs.0,
            subs.1,
            subs.2,
            self.multi,
            self.watching,
            if self.last_command.is_empty() { "NULL" } else { &self.last_command },
            self.protocol,
            text(&self.names.as_ref().and_then(|n| n.lib_name.clone())),
            text(&self.names.as_ref().and_then(|n| n.lib_ver.clone())),
        )
    }
}

/// Every connected client, by ID.
#[derive(Debug, Default)]
pub struct Clients {
    /// Every live client. A BTreeMap because CLIENT LIST prints clients in ID order; boxed
    /// entries keep the tree's nodes small (this registry is a good part of what an idle
    /// connection costs).
    pub by_id: BTreeMap<u64, Box<ClientInfo>>,
    next_id: u64,
    /// Clients waiting in a blocking command (INFO's `blocked_clients`).
    pub blocked: u64,
    /// A client ran SHUTDOWN.
    pub shutdown_requested: bool,
    /// CLIENT PAUSE in force, if any.
    pub pause: Option<Pause>,
}

/// A CLIENT PAUSE: until when, and whether every command waits or only writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    /// Unix ms at which the pause ends by itself.
    pub until_ms: u64,
    /// ALL: every command of every client waits; WRITE: only commands that may change data.
    pub all: bool,
}

impl Clients {
    /// The pause in force at `now_ms`, forgetting one that has ended.
    pub fn pause_at(&mut self, now_ms: u64) -> Option<Pause> {
        if self.pause.is_some_and(|p| now_ms >= p.until_ms) {
            self.pause = None;
        }
        self.pause
    }

    /// A fresh client ID; IDs are never reused.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// What CLIENT UNPAUSE opens: connections held by a pause wait on it as well as on the
/// pause's end time, so they resume at once instead of polling. A plain future, like the
/// blocking slots, so any async runtime can wait on it.
#[derive(Default)]
pub struct PauseGate {
    inner: parking_lot::Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// Bumped by every UNPAUSE; a waiter is released once it differs from what it saw.
    generation: u64,
    wakers: Vec<Waker>,
}

impl PauseGate {
    /// Releases everyone waiting (CLIENT UNPAUSE).
    pub fn open(&self) {
        let wakers = {
            let mut state = self.inner.lock();
            state.generation += 1;
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// A future that resolves at the next [`PauseGate::open`].
    pub fn opened(self: &Arc<Self>) -> GateOpened {
        GateOpened {
            gate: self.clone(),
            seen: self.inner.lock().generation,
        }
    }
}

/// Resolves when the gate opens after it was created.
pub struct GateOpened {
    gate: Arc<PauseGate>,
    seen: u64,
}

impl Future for GateOpened {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.gate.inner.lock();
        if state.generation != self.seen {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
