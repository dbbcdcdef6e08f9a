//! # rill-engine
//!
//! The semantic core of Rill: Redis Streams and the keyspace around them, with Redis's exact
//! replies and errors, and no sockets or async runtime. `rill-server` puts it on TCP; the `rill`
//! client links it directly (the embedded backend). Both enter through [`Session::execute`], so
//! every command has exactly one implementation.
//!
//! ## Layout
//!
//! - [`id`]: stream IDs and every textual form of them.
//! - [`stream`]: one stream in packed nodes (`node`), with trimming and range iteration.
//! - [`keyspace`]: databases of keys with expiry, SCAN order and WATCH versions.
//! - [`command`]: the command table; one module per command family, each parsing its arguments
//!   into typed options and executing them on the keyspace.
//! - [`reply`]: the RESP3-shaped reply value and its RESP2/RESP3 encoding. Stream reads reply
//!   a flat [`EntryList`], XPENDING's extended form a flat [`PendingList`] and XADD a
//!   [`Reply::Id`], written straight into RESP and read
//!   without parsing by an embedded caller; [`Reply::into_tree`] spells them out as the arrays
//!   and strings a network client sees.
//! - [`session`]: per-connection state (database, protocol, MULTI queue, WATCH, auth).
//! - [`config`], [`stats`], [`clients`]: what CONFIG, INFO and CLIENT read and write.
//! - [`eviction`]: `maxmemory` and its policies.
//! - [`blocking`]: clients waiting on keys, and their timeouts.
//! - [`aof`]: Redis 7's append-only file: formats, loading, writing, rewrites.
//! - [`rdb`]: Redis's RDB value encodings (DUMP/RESTORE).
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

pub mod aof;
pub mod args;
pub mod blocking;
pub mod bucketed;
pub mod clients;
pub mod command;
pub mod config;
pub mod error;
pub mod eviction;
pub mod group;
pub mod hash;
pub mod id;
pub mod intset;
pub mod keyspace;
pub mod list;
pub mod long_double;
pub mod notify;
pub mod packed;
pub mod propagate;
pub mod pubsub;
pub mod rdb;
pub mod reply;
pub mod score;
pub mod session;
pub mod set;
pub mod stats;
pub mod stream;
pub mod string_value;
#[cfg(test)]
mod test_support;
pub mod zset;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

pub use bytes::Bytes;
pub use command::prepared::{Prepared, Request};
pub use config::Config;
pub use id::StreamId;
pub use reply::{EntryList, EntryRef, PendingList, PendingRow, Reply};
pub use session::{Close, PipelineClock, Session};

/// The Redis version Rill claims to be (HELLO, INFO), so that clients enable the features of
/// Redis 7.4 whose semantics Rill follows.
pub const REDIS_VERSION: &str = "7.4.0";

/// Everything commands change, behind one lock. Commands run one at a time, which gives
/// MULTI/EXEC and multi-key commands their atomicity for free; measure before splitting it.
#[derive(Debug, Default)]
pub struct State {
    /// Every database, with the WATCH and blocked-client registries.
    pub keyspace: keyspace::Keyspace,
    /// The current CONFIG values.
    pub config: Config,
    /// INFO's counters.
    pub stats: stats::Stats,
    /// Connected clients, for CLIENT LIST and KILL and INFO clients.
    pub clients: clients::Clients,
    /// Wall-clock milliseconds derived from the monotonic clock, re-read once a second.
    pub clock: WallClock,
    /// SLOWLOG's entries.
    pub slowlog: command::slowlog::SlowLog,
    /// The host's allocation counter, if it has one (rill-server): what `used_memory` and
    /// `maxmemory` read.
    pub memory_counter: Option<fn() -> u64>,
    /// An embedded engine's memory estimate, cached (see [`eviction::used_memory`]).
    pub memory_estimate: eviction::Estimate,
    /// The random generator eviction samples keys with.
    pub eviction_rng: u64,
    /// Where changes leave the engine (see [`propagate`]).
    pub propagation: propagate::Propagation,
    /// The append-only log and rewrites (see [`aof`]).
    pub persistence: aof::Persistence,
    /// Channel, pattern and shard-channel subscribers (see [`pubsub`]).
    pub pubsub: pubsub::PubSub,
}

impl State {
    /// Re-reads the eviction policy into how lookups record access, and which events the
    /// databases queue for keyspace notifications (after CONFIG SET).
    pub fn apply_eviction_policy(&mut self) {
        let tracking = eviction::tracking_for(self);
        self.keyspace.set_access_tracking(tracking);
        let events = self.config.keyspace_events;
        let published = events & (notify::KEYSPACE | notify::KEYEVENT) != 0;
        let queued = if published {
            events & (notify::NEW | notify::EXPIRED)
        } else {
            0
        };
        for db in &mut self.keyspace.dbs {
            db.queue_key_events(queued);
        }
    }
}

/// Turns a monotonic instant into Unix milliseconds with one clock read per command instead
/// of two: the wall clock is read again once a second, so clock adjustments show up quickly.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    base: Instant,
    base_ms: u64,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            base: Instant::now(),
            base_ms: now_ms(),
        }
    }
}

impl WallClock {
    /// Unix milliseconds at `at`.
    pub fn ms_at(&mut self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base);
        if since.as_secs() >= 1 {
            *self = WallClock::default();
            return self.base_ms;
        }
        // Under a second: the milliseconds are the subsecond part (no 128-bit arithmetic).
        self.base_ms + u64::from(since.subsec_millis())
    }
}

impl State {
    /// Adds the keys the databases dropped on access to INFO's `expired_keys`.
    pub fn gather_lazily_expired(&mut self) {
        let lazily: u64 = self
            .keyspace
            .dbs
            .iter_mut()
            .map(|db| db.take_lazily_expired())
            .sum();
        self.stats.expired_keys += lazily;
    }
}

/// What the engine shares between sessions.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) started: Instant,
    pub(crate) started_ms: u64,
    /// Called when a client runs SHUTDOWN; the server uses it to stop.
    pub(crate) shutdown_hook: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Facts about the process that hosts the engine, shown by INFO server.
    pub(crate) host: Mutex<HostInfo>,
    /// Timeouts of blocked clients.
    pub(crate) timer: blocking::timer::Timer,
    /// Opened by CLIENT UNPAUSE, to release held connections at once.
    pub(crate) pause_gate: Arc<clients::PauseGate>,
    /// Set once the host stops: connections finish what they write, then end.
    pub(crate) shutting_down: std::sync::atomic::AtomicBool,
    /// The append-only log is being loaded: commands not flagged `loading` get LOADING.
    pub(crate) loading: std::sync::atomic::AtomicBool,
}

/// The host's veto on a CONFIG SET value: `Err` says why it cannot be honoured.
pub type ConfigCheck = fn(name: &str, value: &str) -> Result<(), String>;

/// Facts the host process (rill-server or an embedding program) tells INFO about itself.
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    /// The port the server listens on (INFO `tcp_port`); 0 for an embedded engine.
    pub tcp_port: u16,
    /// Path of the config file the server started with (INFO `config_file`); empty when none, which
    /// also makes CONFIG REWRITE refuse.
    pub config_file: String,
    /// Path of the running binary (INFO `executable`); empty when unknown.
    pub executable: String,
    /// Bytes the process has allocated, when the host counts them (rill-server does, with a
    /// counting allocator, as Redis's zmalloc does). INFO's `used_memory` then costs O(1);
    /// without it INFO walks every key to estimate.
    pub allocated_bytes: Option<fn() -> u64>,
    /// The allocator INFO's `mem_allocator` names (`libc` when the host does not say).
    pub mem_allocator: Option<&'static str>,
    /// Asks the host whether it can honour a new parameter value before CONFIG SET applies
    /// it (rill-server: `maxclients` needs that many open files); the error explains why not.
    pub config_check: Option<ConfigCheck>,
}

/// A handle to one engine; clone it freely, every clone sees the same data.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// An empty in-memory engine with Redis's default configuration.
    pub fn new() -> Engine {
        Engine::with_config(Config::default())
    }

    /// An empty engine with the given configuration.
    pub fn with_config(config: Config) -> Engine {
        let mut state = State {
            keyspace: keyspace::Keyspace::with_databases(config.int("databases") as usize),
            config,
            ..State::default()
        };
        state.apply_eviction_policy();
        Engine {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                started: Instant::now(),
                started_ms: now_ms(),
                shutdown_hook: Mutex::new(None),
                host: Mutex::new(HostInfo::default()),
                timer: blocking::timer::Timer::default(),
                pause_gate: Arc::default(),
                shutting_down: std::sync::atomic::AtomicBool::new(false),
                loading: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// A new client session (a connection, for the server; a handle, when embedded).
    pub fn session(&self) -> Session {
        Session::new(self.shared.clone())
    }

    /// A session of the process that owns the engine: `requirepass` does not apply to it
    /// (it guards the engine's network clients; code holding the engine can reach its data
    /// anyway). The typed client's embedded sessions are these.
    pub fn trusted_session(&self) -> Session {
        let mut session = Session::new(self.shared.clone());
        session.trust();
        session
    }

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.shared.state.lock().config.clone()
    }

    /// Counts a connection's network traffic for INFO and returns the limits it must apply,
    /// in one lock: a connection calls it once per batch, so CONFIG SET reaches open
    /// connections at once.
    /// Traffic counts as interaction for `timeout`, as in Redis: a client sending a large
    /// argument, or slowly taking a large reply, is not idle.
    pub fn account_traffic(&self, client: u64, input: u64, output: u64) -> ConnectionLimits {
        let mut st = self.shared.state.lock();
        st.stats.total_net_input_bytes += input;
        st.stats.total_net_output_bytes += output;
        if input + output > 0 {
            let now = now_ms();
            if let Some(info) = st.clients.by_id.get_mut(&client) {
                info.last_interaction_ms = now;
            }
        }
        // A subscriber's output is held to the `pubsub` class's limits, as in Redis.
        let class = if st.pubsub.is_subscriber(client) {
            2
        } else {
            0
        };
        ConnectionLimits {
            max_bulk_len: st.config.proto_max_bulk_len,
            query_buffer_limit: st.config.query_buffer_limit,
            output: st.config.output_limits[class],
        }
    }

    /// Whether a client connecting from a non-loopback address must be refused with Redis's
    /// DENIED error: `protected-mode yes` and no password set.
    pub fn protected_mode_active(&self) -> bool {
        let st = self.shared.state.lock();
        st.config.get("protected-mode") == Some("yes") && st.config.requirepass().is_none()
    }

    /// Closes every client idle for longer than `timeout` seconds (when it is not 0), except
    /// blocked ones, whose own timeout rules them, as in Redis. Clients the engine cannot
    /// close (embedded sessions) are left alone. Returns the IDs of those told to close.
    pub fn close_idle_clients(&self) -> Vec<u64> {
        let now = now_ms();
        let st = self.shared.state.lock();
        let timeout = st.config.timeout;
        let mut closed = Vec::new();
        // A paused client waits for the pause, not idly: Redis counts it as blocked. The
        // engine does not know whose command a pause holds, so no one is closed meanwhile.
        let paused = st.clients.pause.is_some_and(|p| p.until_ms > now);
        if timeout == 0 || paused {
            return closed;
        }
        for info in st.clients.by_id.values() {
            let idle_ms = now.saturating_sub(info.last_interaction_ms);
            // As in Redis, neither a blocked client nor a subscriber is idle: both wait for
            // the server.
            let blocked = st.keyspace.blocking.get(info.id).is_some();
            let subscribed = st.pubsub.is_subscriber(info.id);
            if idle_ms / 1000 > timeout && !blocked && !subscribed {
                if let Some(kill) = &info.kill {
                    kill();
                    closed.push(info.id);
                }
            }
        }
        closed
    }

    /// How often the host runs its periodic work (active expiry, idle clients): `hz` times a
    /// second.
    pub fn cron_interval(&self) -> std::time::Duration {
        let hz = self.shared.state.lock().config.hz.max(1);
        std::time::Duration::from_millis(1000 / hz)
    }

    /// A configuration parameter's current value.
    pub fn config_value(&self, name: &str) -> Option<String> {
        self.shared
            .state
            .lock()
            .config
            .get(name)
            .map(str::to_string)
    }

    /// A configuration parameter as an integer (0 when not a number).
    pub fn config_int(&self, name: &str) -> u64 {
        self.shared.state.lock().config.int(name)
    }

    /// Runs `f` with the configuration locked for change (used at start-up).
    pub fn configure<R>(&self, f: impl FnOnce(&mut Config) -> R) -> R {
        f(&mut self.shared.state.lock().config)
    }

    /// Registers what SHUTDOWN should do.
    pub fn on_shutdown(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        *self.shared.shutdown_hook.lock() = Some(hook);
    }

    /// Tells INFO about the hosting process.
    pub fn set_host_info(&self, info: HostInfo) {
        self.shared.state.lock().memory_counter = info.allocated_bytes;
        *self.shared.host.lock() = info;
    }

    /// Reclaims expired keys; the host calls it `hz` times a second. Returns how many went.
    pub fn active_expire_cycle(&self) -> usize {
        if self
            .shared
            .loading
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            // Nothing expires while the log loads: its commands replay on the data they
            // first ran on, as in Redis.
            return 0;
        }
        let now = now_ms();
        let mut state = self.shared.state.lock();
        if state.clients.pause_at(now).is_some() {
            // CLIENT PAUSE freezes the dataset, expiry included, as in Redis.
            return 0;
        }
        let mut removed = 0;
        for db in 0..state.keyspace.dbs.len() {
            let n = state.keyspace.dbs[db].expire_due(now, 1000);
            removed += n;
            state.keyspace.signal_expired_streams(db);
            state.keyspace.dbs[db].expire_idmp(now, 100);
            for (key, fields, emptied) in state.keyspace.dbs[db].expire_fields(now, 100) {
                state.stats.expired_subkeys += fields.len() as u64;
                state.keyspace.touch(db, &key);
                notify::publish(&mut state, db, notify::HASH, "hexpired", &key);
                if emptied {
                    notify::publish(&mut state, db, notify::GENERIC, "del", &key);
                }
            }
        }
        state.stats.expired_keys += removed as u64;
        notify::publish_queued(&mut state);
        if state.propagation.enabled() {
            propagate::take_expired(&mut state, 0);
            state.propagation.flush();
        }
        if state.keyspace.blocking.has_ready() {
            // Clients blocked on streams that expired are released now, not at their
            // timeout (after the expiries are logged, which come first).
            command::serve_blocked(&mut state, &self.shared, now);
        }
        state.stats.sample(now);
        // The peak is watched between INFO calls too, as Redis's cron does (cheap only with
        // a counting allocator; an embedded engine updates it when INFO measures).
        if let Some(count) = state.memory_counter {
            state.stats.used_memory_peak = state.stats.used_memory_peak.max(count());
        }
        removed
    }

    /// Serves blocked `XREADGROUP ... CLAIM` readers whose streams now hold a pending entry
    /// idle long enough: Redis checks before each sleep, Rill on each cron tick (`hz` times a
    /// second); a write still wakes them at once.
    pub fn serve_claimable(&self) {
        if self
            .shared
            .loading
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let now = now_ms();
        let mut state = self.shared.state.lock();
        let reads = state.keyspace.blocking.claim_reads();
        if reads.is_empty() {
            return;
        }
        let mut due = Vec::new();
        for (db, key, group, min_idle) in reads {
            let Some(keyspace::Value::Stream(stream)) = state.keyspace.dbs[db].peek(&key) else {
                continue;
            };
            let claimable = stream.groups.get(&group).is_some_and(|g| {
                g.nacked().any(|id| stream.contains(id))
                    || g.pel.iter().any(|(id, p)| {
                        now.saturating_sub(p.delivery_time) >= min_idle && stream.contains(id)
                    })
            });
            if claimable {
                due.push((db, key));
            }
        }
        for (db, key) in due {
            state.keyspace.blocking.signal(db, &key);
        }
        command::serve_blocked(&mut state, &self.shared, now);
        if state.propagation.enabled() {
            state.propagation.flush();
        }
    }

    /// Counts a connection the host accepted or refused.
    pub fn count_connection(&self, accepted: bool) {
        let mut state = self.shared.state.lock();
        if accepted {
            state.stats.total_connections_received += 1;
        } else {
            state.stats.rejected_connections += 1;
        }
    }

    /// When a CLIENT PAUSE in force ends (Unix ms), if one is; and a future that resolves
    /// when CLIENT UNPAUSE ends it early. Take the future first, so an UNPAUSE in between is
    /// not missed.
    pub fn pause_wait(&self) -> (clients::GateOpened, Option<u64>) {
        let opened = self.shared.pause_gate.opened();
        let until = self.shared.state.lock().clients.pause.map(|p| p.until_ms);
        (opened, until)
    }

    /// Tells every client the host is stopping, through the kill switch each registered;
    /// [`Engine::is_shutting_down`] tells them apart from a kill.
    pub fn close_all_clients(&self) {
        self.shared
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let st = self.shared.state.lock();
        for info in st.clients.by_id.values() {
            if let Some(kill) = &info.kill {
                kill();
            }
        }
    }

    /// Whether the host is stopping (see [`Engine::close_all_clients`]).
    pub fn is_shutting_down(&self) -> bool {
        self.shared
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Attaches the journal every change is handed to from now on (see [`propagate`]), or
    /// detaches it with `None`.
    pub fn set_journal(&self, journal: Option<Box<dyn propagate::Journal>>) {
        let mut st = self.shared.state.lock();
        st.keyspace.set_expiry_logging(journal.is_some());
        st.propagation.set_journal(journal);
    }

    /// An engine that keeps its data in `dir` across restarts: the append-only log of Redis
    /// 7 (`<dir>/appendonlydir`, the same files rill-server and Redis 7 use), loaded now
    /// and appended to from now on with `config`'s `appendfsync` (and other AOF directives).
    /// Call [`Engine::close`] before exiting so that the last writes reach the disk under
    /// `everysec` and `no`; under `always` every command that returned is already there.
    pub fn open(
        dir: impl AsRef<std::path::Path>,
        config: Config,
    ) -> Result<Engine, aof::load::LoadError> {
        let mut config = config;
        let dir = dir.as_ref().display().to_string();
        config
            .set("dir", &dir, true)
            .and_then(|_| config.set("appendonly", "yes", true))
            .map_err(|e| aof::load::LoadError(e.to_string()))?;
        let engine = Engine::with_config(config);
        engine.open_log()?;
        engine.spawn_cron();
        Ok(engine)
    }

    /// Marks the engine as loading (clients get LOADING) before the host hands the load to
    /// another thread, so that no client is served the empty dataset in between; the load
    /// ([`Engine::open_log`], [`Engine::load_snapshot`]) clears it when done.
    pub fn begin_loading(&self) {
        self.shared
            .loading
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Opens the append-only log the configuration describes (`appendonly yes` at start):
    /// loads the directory, then appends every change to it.
    pub fn open_log(&self) -> Result<aof::load::LoadReport, aof::load::LoadError> {
        let options = aof::Options::from_config(&self.config());
        let loading = &self.shared.loading;
        loading.store(true, std::sync::atomic::Ordering::Relaxed);
        let report = aof::Aof::open(self, &options);
        loading.store(false, std::sync::atomic::Ordering::Relaxed);
        report
    }

    /// Closes the append-only log, if open: everything appended is written and synced. The
    /// engine goes on without persistence (rill-server calls it as it stops).
    pub fn close(&self) {
        aof::Aof::disable(&mut self.shared.state.lock());
    }

    /// Loads `<dir>/<dbfilename>` at start (when there is no append-only log): how many keys,
    /// or `None` when there is no file.
    pub fn load_snapshot(&self) -> Result<Option<usize>, String> {
        let loading = &self.shared.loading;
        loading.store(true, std::sync::atomic::Ordering::Relaxed);
        let result = rdb::save::load(self);
        loading.store(false, std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// The host is stopping (SIGTERM, SIGINT): saves the snapshot when `save` points are set,
    /// as Redis does, unless SHUTDOWN already settled it.
    pub fn save_on_exit(&self) -> Result<(), String> {
        let mut st = self.shared.state.lock();
        if st.persistence.save.lock().exit_settled || !rdb::save::has_save_points(&st.config) {
            return Ok(());
        }
        rdb::save::save_now(&mut st, now_ms())
    }

    /// The host's event loop is about to wait for more work: the clients that ran in this
    /// round are answered by one sync of the log (see
    /// [`aof::writer::LogWriter::before_sleep`]). Cheap when there is no log.
    pub fn before_sleep(&self) {
        let writer = self
            .shared
            .state
            .lock()
            .persistence
            .log
            .as_ref()
            .map(|l| l.writer().clone());
        if let Some(writer) = writer {
            writer.before_sleep();
        }
    }

    /// Starts an automatic rewrite when the log has grown enough (the host calls it from
    /// its periodic work).
    pub fn persistence_cron(&self) {
        let mut st = self.shared.state.lock();
        let now = now_ms();
        let rewriting = st.persistence.rewrite.lock().running_since.is_some();
        let scheduled = st.persistence.save.lock().scheduled;
        if (scheduled && !rewriting) || rdb::save::save_point_due(&st, now) {
            if let Err(e) = rdb::save::start_background(&mut st, now) {
                eprintln!("Background saving could not start: {e}");
            }
        }
        let Some(growth) = st.persistence.rewrite_due(&st.config) else {
            return;
        };
        let Some(target) = st.persistence.log.as_ref().map(|l| l.target().clone()) else {
            return;
        };
        if let Err(e) = aof::rewrite::start(&mut st, &target) {
            eprintln!("Automatic AOF rewrite on {growth}% growth could not start: {e}");
        }
    }

    /// For an embedded engine: a thread doing the periodic work a server's cron does
    /// (active expiry, automatic rewrites) `hz` times a second, for as long as a handle to
    /// the engine exists.
    fn spawn_cron(&self) {
        let weak = Arc::downgrade(&self.shared);
        let _ = std::thread::Builder::new()
            .name("rill-cron".into())
            .spawn(move || loop {
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                let engine = Engine { shared };
                let interval = engine.cron_interval();
                engine.active_expire_cycle();
                engine.serve_claimable();
                engine.persistence_cron();
                drop(engine);
                std::thread::sleep(interval);
            });
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.shared.state.lock().clients.by_id.len()
    }
}

/// The limits a server connection applies; see [`Engine::account_traffic`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `proto-max-bulk-len`: the longest argument a request may carry.
    pub max_bulk_len: u64,
    /// `client-query-buffer-limit`: unparsed input beyond it closes the client.
    pub query_buffer_limit: u64,
    /// `client-output-buffer-limit` for normal clients.
    pub output: config::OutputLimit,
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
