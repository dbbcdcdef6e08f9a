//! `Session`: one client's state (selected database, protocol, MULTI queue, WATCHed keys, auth)
//! and the entry point that runs a command for it.

use std::sync::Arc;

use bytes::Bytes;

use crate::blocking::{BlockedReply, Slot};
use crate::clients::{ClientInfo, KillSwitch};
use crate::command::prepared::{Prepared, Request};
use crate::command::{self, Ctx};
use crate::reply::Reply;
use crate::{now_ms, Shared};

/// What the connection should do after writing the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Close {
    /// Keep going.
    #[default]
    No,
    /// Write the reply, then close (QUIT).
    AfterReply,
    /// Close without writing anything more (SHUTDOWN, CLIENT KILL of oneself).
    Now,
}

/// A transaction being queued after MULTI.
#[derive(Debug, Default)]
pub struct Multi {
    /// The queued commands, each its whole argument vector, run in order by EXEC.
    pub queue: Vec<Vec<Bytes>>,
    /// A command was refused while queuing: EXEC must answer EXECABORT.
    pub failed: bool,
}

/// Per-client state that commands read and change.
#[derive(Debug)]
pub struct SessionState {
    /// The client's ID (CLIENT ID), also its key in the client registry.
    pub id: u64,
    /// The selected database (SELECT); 0 on connect.
    pub db: usize,
    /// RESP version: 2 until HELLO 3.
    pub protocol: u8,
    /// False until AUTH succeeds when `requirepass` is set; true from the start otherwise.
    pub authenticated: bool,
    /// The open transaction; `None` outside MULTI.
    pub multi: Option<Multi>,
    /// (db, key, version when watched).
    pub watched: Vec<(usize, Bytes, u64)>,
    /// Earliest expiry time among keys that were live when WATCHed: once it passes, a watched
    /// key has expired and EXEC must fail, as in Redis.
    pub watch_deadline: Option<u64>,
    /// What the connection does once this command's reply is written (QUIT, SHUTDOWN, CLIENT KILL).
    pub close: Close,
    /// EXEC is running the queued commands (blocking commands must not block then).
    pub in_exec: bool,
    /// Set by a command that blocked: where its reply will land.
    pub blocked: Option<Arc<Slot>>,
    /// Name of the last command looked up (CLIENT LIST's `cmd`), `NULL` for an unknown one.
    pub last_command: &'static str,
    /// The last plain command (no subcommands) this session ran: looked at before the table,
    /// so that a pipeline of one command (a batch of XADDs) skips the table's hashing.
    pub command_hint: command::CommandHint,
    /// A server connection, which CLIENT PAUSE holds; embedded sessions are never held.
    pub pausable: bool,
    /// CLIENT NO-TOUCH ON: this client's commands leave keys' LRU/LFU data alone (TOUCH
    /// still touches).
    pub no_touch: bool,
    /// The client that loads the append-only log: it runs while others get LOADING.
    pub loader: bool,
    /// What REPLCONF told about the snapshot this client wants (SYNC / PSYNC).
    pub replconf: Replconf,
    /// Set by SYNC / PSYNC: the snapshot the connection sends instead of a reply.
    pub transfer: Option<Box<crate::rdb::transfer::Transfer>>,
    /// Where this client's pub/sub messages wait (see [`crate::pubsub`]).
    pub mailbox: Arc<crate::pubsub::Mailbox>,
}

/// What a client said with REPLCONF before asking for a snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replconf {
    /// `capa eof`: it reads an EOF-framed transfer.
    pub eof: bool,
    /// `rdb-only 1`: it wants the snapshot alone, not a replication stream.
    pub rdb_only: bool,
    /// `rdb-filter-only ...`: only functions (Rill has none), so the snapshot is empty.
    pub functions_only: bool,
}

impl SessionState {
    /// The state a blocked client's read runs with when the engine serves it.
    pub(crate) fn for_waiter(id: u64, db: usize, protocol: u8) -> SessionState {
        SessionState::new(id, db, protocol, true)
    }

    /// Whether a blocking command may block now: not inside EXEC, and not while loading the
    /// log (a blocking command there answers at once, as Redis's AOF client does: nothing
    /// could ever wake it).
    pub fn may_block(&self) -> bool {
        !self.in_exec && !self.loader
    }

    /// A client with nothing open yet.
    fn new(id: u64, db: usize, protocol: u8, authenticated: bool) -> SessionState {
        SessionState {
            id,
            db,
            protocol,
            authenticated,
            multi: None,
            watched: Vec::new(),
            watch_deadline: None,
            close: Close::No,
            in_exec: false,
            blocked: None,
            last_command: "",
            command_hint: command::CommandHint::default(),
            pausable: false,
            no_touch: false,
            loader: false,
            replconf: Replconf::default(),
            transfer: None,
            mailbox: Arc::default(),
        }
    }
}

/// A client of the engine: a TCP connection in `rill-server`, or an in-process handle.
pub struct Session {
    shared: Arc<Shared>,
    state: SessionState,
    /// What the replies so far must wait for before they leave: the log reaching the offset
    /// it had when they were made (see [`Session::take_durability`]).
    durability: Option<Durability>,
}

/// Effects up to this size are copied into the journal in well under a microsecond: the
/// pipeline clock runs on across them (see [`PipelineClock`]). A larger copy (a big value
/// written) takes long enough to be nobody's time, and the next command reads the clock.
const BOOKKEEPING_FLUSH_BYTES: usize = 4096;

/// The clock of a pipeline (run by [`Session::execute_all`], or by a connection through
/// [`Session::try_execute_next`]): when the previous command ended,
/// if that is when the next one starts, so that a pipeline reads the clock once per command
/// instead of twice. It is so when nothing but bookkeeping ran after the command: not when
/// it was queued or refused before running (its end was never read), nor when waiters were
/// served, keyspace events published, large effects propagated (small ones are a copy into
/// the journal's buffer: bookkeeping) or the command blocked (that time
/// belongs to no command, as in Redis, and must not age the next one's clock).
#[derive(Clone, Copy, Default)]
pub enum PipelineClock {
    /// The next command reads the clock.
    #[default]
    Fresh,
    /// The previous command ended at this instant, and nothing ran since.
    EndedAt(std::time::Instant),
}

/// A point of the append-only log that replies wait for: with `appendfsync always`, until it
/// is on disk; with the other policies, until it is written to the file. A reply never
/// leaves before the changes it shows are as durable as the policy promises, and one write
/// (and sync) covers every client waiting for it.
pub struct Durability {
    writer: Arc<crate::aof::writer::LogWriter>,
    offset: u64,
}

impl Durability {
    /// Waits without blocking the thread (a server connection, `execute_async`).
    pub async fn wait(self) {
        self.writer.wait(self.offset).await
    }

    /// Blocks the calling thread until the point is durable.
    pub fn wait_blocking(self) {
        self.writer.wait_blocking(self.offset)
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>) -> Session {
        let now = now_ms();
        let id = {
            let mut st = shared.state.lock();
            let id = st.clients.next_id();
            st.clients.by_id.insert(
                id,
                Box::new(ClientInfo {
                    id,
                    addr: "embedded:0".into(),
                    laddr: "embedded:0".into(),
                    names: None,
                    db: 0,
                    protocol: 2,
                    created_ms: now,
                    last_interaction_ms: now,
                    last_command: "",
                    multi: -1,
                    watching: 0,
                    kill: None,
                    no_evict: false,
                }),
            );
            id
        };
        let authenticated = shared.state.lock().config.requirepass().is_none();
        Session {
            shared,
            state: SessionState::new(id, 0, 2, authenticated),
            durability: None,
        }
    }

    /// This client's ID (CLIENT ID).
    pub fn id(&self) -> u64 {
        self.state.id
    }

    /// RESP version chosen by HELLO (2 or 3).
    pub fn protocol(&self) -> u8 {
        self.state.protocol
    }

    /// Whether CLIENT NO-TOUCH is on.
    pub fn no_touch(&self) -> bool {
        self.state.no_touch
    }

    /// Where this client's pub/sub messages wait: a connection polls it while idle and
    /// writes what came (see [`crate::pubsub::Mailbox`]).
    pub fn mailbox(&self) -> Arc<crate::pubsub::Mailbox> {
        self.state.mailbox.clone()
    }

    /// The pub/sub messages waiting for this client, oldest first (an embedded subscriber
    /// reads its messages this way).
    pub fn take_messages(&self) -> Vec<Reply> {
        self.state.mailbox.take()
    }

    /// Lets this session run commands whatever `requirepass` says: it loads what the server
    /// itself logged (Redis's AOF client is never asked to authenticate).
    pub(crate) fn authenticate_for_loading(&mut self) {
        self.state.authenticated = true;
        self.state.loader = true;
    }

    /// Lets this session run commands whatever `requirepass` says (see
    /// [`crate::Engine::trusted_session`]).
    pub(crate) fn trust(&mut self) {
        self.state.authenticated = true;
    }

    /// Whether the client may run commands (it authenticated, or no password is set).
    pub fn is_authenticated(&self) -> bool {
        self.state.authenticated
    }

    /// What the connection should do after the last reply.
    pub fn close_requested(&self) -> Close {
        self.state.close
    }

    /// Whether a MULTI is open (its commands are queued, not run).
    pub fn in_multi(&self) -> bool {
        self.state.multi.is_some()
    }

    /// Records the peer and local addresses shown by CLIENT LIST, and how to close the client.
    /// The session is a server connection from now on: CLIENT PAUSE holds its commands (see
    /// [`Session::try_execute`]).
    pub fn attach(&mut self, addr: String, laddr: String, kill: KillSwitch) {
        self.state.pausable = true;
        let mut st = self.shared.state.lock();
        if let Some(info) = st.clients.by_id.get_mut(&self.state.id) {
            info.addr = addr;
            info.laddr = laddr;
            info.kill = Some(kill);
        }
    }

    /// Runs one command (`args[0]` is its name) and returns its reply, once what it changed
    /// or read is as durable as `appendfsync` promises (the thread blocks meanwhile, as a
    /// client would wait for its reply). A command that blocks (BLPOP, XREAD BLOCK...) holds
    /// the thread until another session serves it or its timeout passes, as it would hold a
    /// client: never call it on a thread that the serving write needs.
    pub fn execute(&mut self, args: &[Bytes]) -> Reply {
        let mut reply = self.execute_now(Request::Text(args), None);
        if let Some(blocked) = self.take_blocked() {
            reply = crate::blocking::wait_on_thread(blocked);
            self.note_served_reply();
        }
        if let Some(durability) = self.take_durability() {
            durability.wait_blocking();
        }
        reply
    }

    /// Runs commands in order, as a client's pipeline: each as [`Session::execute`] (or
    /// [`Session::execute_prepared`]) would, but the log is waited for once, after the last
    /// (a connection answers a pipeline after one write, or one sync, of the log), not once
    /// per command, and a command's end starts the next when nothing ran between them (one
    /// clock read per command; see `PipelineClock`).
    pub fn execute_all<'a>(
        &mut self,
        requests: impl IntoIterator<Item = Request<'a>>,
    ) -> Vec<Reply> {
        // Gathered first: the caller's iterator runs before the pipeline's clock does.
        let requests: Vec<Request<'a>> = requests.into_iter().collect();
        let mut replies = Vec::with_capacity(requests.len());
        let mut clock = PipelineClock::Fresh;
        for request in requests {
            let mut reply = self.execute_now(request, Some(&mut clock));
            if let Some(blocked) = self.take_blocked() {
                reply = crate::blocking::wait_on_thread(blocked);
                self.note_served_reply();
                // The wait is not the next command's time.
                clock = PipelineClock::Fresh;
            }
            replies.push(reply);
        }
        if let Some(durability) = self.take_durability() {
            durability.wait_blocking();
        }
        replies
    }

    /// Runs one command without waiting for the log (on a pipeline's clock, if given).
    fn execute_now(&mut self, request: Request, clock: Option<&mut PipelineClock>) -> Reply {
        let pausable = std::mem::replace(&mut self.state.pausable, false);
        let reply = self.try_run(request, clock);
        self.state.pausable = pausable;
        reply.unwrap_or(Reply::Null)
    }

    /// What the replies produced since the last call must wait for before they are sent,
    /// if anything: the log's group commit (see [`Durability`]). A connection takes it once
    /// per batch of replies, so one sync answers a whole pipeline.
    pub fn take_durability(&mut self) -> Option<Durability> {
        self.durability.take()
    }

    /// A blocked command's reply arrived: it waits for everything the log holds now (the
    /// write that served it included).
    pub fn note_served_reply(&mut self) {
        let st = self.shared.state.lock();
        if let Some(log) = &st.persistence.log {
            self.durability = Some(Durability {
                writer: log.writer().clone(),
                offset: log.writer().appended(),
            });
        }
    }

    /// Like [`Session::execute`], but for a connection that CLIENT PAUSE may hold: `None`
    /// means the command did not run because a pause holds it; the caller keeps it and tries
    /// again later, so the client's commands still run in order.
    pub fn try_execute(&mut self, args: &[Bytes]) -> Option<Reply> {
        self.try_run(Request::Text(args), None)
    }

    /// Runs a command given as values (see [`Prepared`]) exactly as its text would run, and
    /// returns its reply once what it changed is as durable as `appendfsync` promises. It
    /// never blocks.
    pub fn execute_prepared(&mut self, command: Prepared) -> Reply {
        let reply = self.execute_now(Request::Prepared(command), None);
        if let Some(durability) = self.take_durability() {
            durability.wait_blocking();
        }
        reply
    }

    /// [`Session::try_execute`] for the next command of a pipeline: when the previous command
    /// on `clock` ended and nothing ran since, its end is this one's start (one clock read
    /// per command instead of two; see [`PipelineClock`]). A connection starts a fresh clock
    /// for each batch of commands it read, and again after any work of its own between them.
    pub fn try_execute_next(&mut self, args: &[Bytes], clock: &mut PipelineClock) -> Option<Reply> {
        self.try_run(Request::Text(args), Some(clock))
    }

    /// [`Session::try_execute`] for text or values.
    fn try_run(&mut self, request: Request, clock: Option<&mut PipelineClock>) -> Option<Reply> {
        if let Request::Text([]) = request {
            return Some(Reply::Null);
        }
        let started = match clock.as_deref() {
            Some(PipelineClock::EndedAt(ended)) => *ended,
            _ => std::time::Instant::now(),
        };
        let shared = &self.shared;
        let mut guard = shared.state.lock();
        let now = guard.clock.ms_at(started);
        if self.state.pausable {
            if let Some(pause) = guard.clients.pause_at(now) {
                if pause.all || command::may_write(&self.state, request) {
                    return None;
                }
            }
        }
        let mut ctx = Ctx {
            state: &mut guard,
            session: &mut self.state,
            shared,
            now_ms: now,
            started,
        };
        let untouched = ctx.session.no_touch && !request.is("touch");
        if untouched {
            ctx.state.keyspace.set_untouched(true);
        }
        let paused = ctx.state.clients.pause_at(now).is_some();
        ctx.state.keyspace.set_expiry_frozen(paused);
        let reply = match request {
            Request::Text(args) => command::dispatch(&mut ctx, args),
            Request::Prepared(command) => command::dispatch_prepared(&mut ctx, command),
        };
        // The command ran when `call_request` moved `ctx.started` to its end; only then, and
        // with nothing but bookkeeping to do after it, does its end start the next command.
        let ended = (ctx.started > started).then_some(ctx.started);
        let mut quiet = ctx.state.config.keyspace_events == 0;
        // Keys the command created or found expired, if anyone listens for those events.
        crate::notify::publish_queued(ctx.state);
        if untouched {
            ctx.state.keyspace.set_untouched(false);
        }
        command::note_client_activity(&mut ctx);
        // Handing a command's effects to the journal is a copy into its buffer: bookkeeping,
        // like the counters above, unless the copy is large. (With the log on, a second clock
        // read per logged command was a sixth of what the log cost a pipelined XADD.)
        if ctx.state.propagation.flush() > BOOKKEEPING_FLUSH_BYTES {
            quiet = false;
        }
        // A stream the command found expired releases the clients blocked on it.
        ctx.state
            .keyspace
            .signal_expired_streams_after_command(ctx.session.db);
        if ctx.state.keyspace.blocking.has_ready() {
            quiet = false;
            command::serve_blocked(ctx.state, shared, now);
        }
        if let Some(log) = &ctx.state.persistence.log {
            // Reads wait too when they may show unsynced data, as in Redis, where every
            // reply of an event-loop round leaves after that round's write and fsync.
            let writer = log.writer();
            let offset = writer.appended();
            if !writer.is_durable(offset) {
                match &mut self.durability {
                    // The same log as the pipeline's earlier replies: a later point of it
                    // (no new reference to the writer per command).
                    Some(d) if Arc::ptr_eq(&d.writer, writer) => d.offset = d.offset.max(offset),
                    other => {
                        *other = Some(Durability {
                            writer: writer.clone(),
                            offset,
                        })
                    }
                }
            }
        }
        if let Some(clock) = clock {
            *clock = match ended {
                Some(ended) if quiet => PipelineClock::EndedAt(ended),
                _ => PipelineClock::Fresh,
            };
        }
        drop(guard);
        if self.state.close == Close::Now {
            if let Some(hook) = self.take_shutdown_request() {
                hook();
            }
        }
        Some(reply)
    }

    /// After [`Session::execute`]: the snapshot SYNC or PSYNC asked for, which the host
    /// sends in place of the command's reply (then closes the connection).
    pub fn take_transfer(&mut self) -> Option<Box<crate::rdb::transfer::Transfer>> {
        self.state.transfer.take()
    }

    /// After [`Session::execute`]: if the command blocked, the future of its reply. Its
    /// timeout is already armed on the engine's timer, which answers the timeout reply under
    /// the engine lock only if no write served the waiter first; so exactly one of the two
    /// ever fills the reply, and a served read's reply is never replaced by a nil (the
    /// entries it moved into a PEL reach the client). Dropping the future keeps the block
    /// until the session gives it up ([`Session::unblock`] or drop).
    pub fn take_blocked(&mut self) -> Option<BlockedReply> {
        let slot = self.state.blocked.take()?;
        let timeout_ms = self
            .shared
            .state
            .lock()
            .keyspace
            .blocking
            .get(self.state.id)
            .map(|w| w.timeout_ms)
            .unwrap_or(0);
        if timeout_ms > 0 {
            let at = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
            self.shared
                .timer
                .schedule(&self.shared, at, self.state.id, &slot);
        }
        Some(BlockedReply { slot })
    }

    /// Runs a command like [`Session::execute`], waiting when it blocks (XREAD BLOCK,
    /// XREADGROUP BLOCK) until its reply or its timeout. Works under any async runtime.
    /// Dropping the future gives the block up.
    pub async fn execute_async(&mut self, args: &[Bytes]) -> Reply {
        let reply = self.execute_now(Request::Text(args), None);
        let Some(blocked) = self.take_blocked() else {
            if let Some(durability) = self.take_durability() {
                durability.wait().await;
            }
            return reply;
        };
        let guard = CancelOnDrop {
            shared: &self.shared,
            client: self.state.id,
            armed: true,
        };
        let reply = blocked.await;
        let mut guard = guard;
        guard.armed = false;
        drop(guard);
        self.note_served_reply();
        if let Some(durability) = self.take_durability() {
            durability.wait().await;
        }
        reply
    }

    /// Gives up this client's block, if any (the client left, or was killed).
    pub fn unblock(&mut self) {
        self.shared
            .state
            .lock()
            .keyspace
            .blocking
            .remove(self.state.id);
    }

    fn take_shutdown_request(&self) -> Option<Arc<dyn Fn() + Send + Sync>> {
        let st = self.shared.state.lock();
        if st.clients.shutdown_requested {
            self.shared.shutdown_hook.lock().clone()
        } else {
            None
        }
    }
}

/// Removes a client's block if its future is dropped before the reply came.
struct CancelOnDrop<'a> {
    shared: &'a Arc<Shared>,
    client: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared
                .state
                .lock()
                .keyspace
                .blocking
                .remove(self.client);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.keyspace.blocking.remove(self.state.id);
        st.pubsub.remove_client(self.state.id);
        for (db, key, _) in self.state.watched.drain(..) {
            st.keyspace.unwatch(db, &key);
        }
        st.clients.by_id.remove(&self.state.id);
    }
}
