//! The databases: keys to values, with expiry, SCAN order, and WATCH bookkeeping.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::hash::Hash;
use crate::list::List;
use crate::set::Set;
use crate::stream::Stream;
use crate::string_value::Str;
use crate::zset::ZSet;

mod access;
mod table;

pub use access::AccessTracking;
use access::*;
use table::KeyTable;

/// Redis's default number of databases.
pub const DATABASES: usize = 16;

/// A value stored under a key.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string (SET, INCR...): the keyspace commands around streams need them.
    Str(Str),
    /// A stream; boxed so that a `Value` stays as small as a string's.
    Stream(Box<Stream>),
    /// A hash (HSET...). The collections are held inline: each is at most four words (a
    /// small one is its packed buffer, a large one boxes its table), so a small collection
    /// costs its key's slot and one buffer, as a Redis listpack costs its object and one.
    Hash(Hash),
    /// A list (LPUSH...).
    List(List),
    /// A set (SADD...).
    Set(Set),
    /// A sorted set (ZADD...).
    ZSet(ZSet),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Stream(_) => "stream",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Approximate heap bytes, for INFO memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::Stream(s) => s.heap_bytes() + std::mem::size_of::<Stream>(),
            Value::Hash(h) => h.heap_bytes(),
            Value::List(l) => l.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
        }
    }

    /// OBJECT ENCODING's name for this value.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => crate::command::strings::encoding(s),
            Value::Stream(_) => "stream",
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }
}

/// One database.
#[derive(Debug, Default)]
pub struct Db {
    /// The keys, their values and access data.
    table: KeyTable,
    /// How lookups update `Slot::access`; set by [`Keyspace::set_access_tracking`].
    tracking: AccessTracking,
    /// Lookups leave access data alone (a CLIENT NO-TOUCH client's command is running).
    untouched: bool,
    /// CLIENT PAUSE is in force: an expired key reads as missing but stays, as in Redis, so
    /// the dataset does not change under a pause.
    expiry_frozen: bool,
    /// Keys removed because they expired, kept for the journal (a DEL each) while one is
    /// attached; `None` otherwise.
    expired_log: Option<ExpiryLog>,
    /// Streams that expired since the engine last told their blocked readers (see
    /// [`Keyspace::signal_expired_streams`]): a client blocked in XREADGROUP is released when
    /// its stream goes, by expiry too, as in Redis.
    expired_streams: Vec<Bytes>,
    /// A log is being loaded: keys never expire meanwhile, as in Redis, so that the commands
    /// replay on exactly the data they first ran on (whatever the clock says now); what
    /// expired goes once loading ends.
    loading: bool,
    /// State of the small random generator LFU's logarithmic increment draws from.
    rng: u64,
    /// Keys dropped on access because their time had come, not yet added to INFO's
    /// `expired_keys` (see [`Db::take_lazily_expired`]).
    lazily_expired: u64,
    /// Streams that remember idempotent IDs (XADD IDMP), so that the cron forgets expired
    /// ones even in a stream nobody writes to any more. A key stays listed until a sweep
    /// finds it gone or without producers.
    idmp_keys: BTreeSet<Bytes>,
    /// Where the last sweep of `idmp_keys` stopped.
    idmp_cursor: Option<Bytes>,
    /// Hash fields removed because their time passed, kept for the journal (an HDEL each)
    /// while one is attached.
    expired_field_log: Vec<(Bytes, Bytes)>,
    /// Hashes with fields that have expiry times, for the cron's sweep ([`Db::expire_fields`]).
    field_expiry_keys: BTreeSet<Bytes>,
    /// Where the last sweep of `field_expiry_keys` stopped.
    field_expiry_cursor: Option<Bytes>,
    /// Which events this database queues for keyspace notifications (`notify::NEW`,
    /// `notify::EXPIRED`); 0 when nobody listens.
    queued_classes: u16,
    /// Events queued for [`crate::notify::publish_queued`]: (class, event, key).
    key_events: Vec<(u16, &'static str, Bytes)>,
}

impl Db {
    /// Number of keys, counting keys that expired but were not yet reclaimed (as Redis does).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No keys at all, counting expired keys not yet reclaimed, as `len` does.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys with a time to live.
    pub fn expires_count(&self) -> usize {
        self.table.volatile_count()
    }

    /// Whether `key`'s time has come; it is dropped then, unless a pause froze expiry.
    fn expire_if_due(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.loading {
            return false;
        }
        match self.table.expiry(key) {
            Some(at) if at <= now_ms => {
                if !self.expiry_frozen {
                    if self.table.contains(key) {
                        let owned = Bytes::copy_from_slice(key);
                        if self.queued_classes & crate::notify::EXPIRED != 0 {
                            self.key_events.push((
                                crate::notify::EXPIRED,
                                "expired",
                                owned.clone(),
                            ));
                        }
                        if let Some(log) = self.expired_log.as_mut() {
                            log.keys.push(owned);
                            log.signal();
                        }
                    }
                    if let Some(Value::Stream(_)) = self.remove(key) {
                        self.expired_streams.push(Bytes::copy_from_slice(key));
                    }
                    self.lazily_expired += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// Whether a live key exists.
    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        !self.expire_if_due(key, now_ms) && self.table.contains(key)
    }

    /// The value at `key` as it is, without counting an access or expiring it (for the
    /// server's own checks; a command that then reads it goes through [`Db::get`]).
    pub fn peek(&self, key: &[u8]) -> Option<&Value> {
        self.table.get(key).map(|e| &e.value)
    }

    /// The live value at `key`; the lookup counts as an access (LRU/LFU).
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get_mut(key, now_ms).map(|v| &*v)
    }

    /// The live value at `key`, for change; the lookup counts as an access (LRU/LFU).
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        if self.expire_if_due(key, now_ms) {
            return None;
        }
        let tracking = self.tracking;
        let untouched = self.untouched;
        let draw = match tracking {
            AccessTracking::Lfu { .. } if !untouched => self.next_random(),
            _ => 0.0,
        };
        let entry = self.table.get_mut(key)?;
        if !untouched {
            entry.access = touched(entry.access, tracking, now_ms, draw);
        }
        Some(&mut entry.value)
    }

    /// The access data of `key` without counting an access (eviction's sampling).
    fn access_of(&self, key: &[u8]) -> Option<u32> {
        self.table.get(key).map(|e| e.access)
    }

    /// How long `key` has gone unused, in seconds, by its LRU clock (OBJECT IDLETIME's
    /// meaning); `None` when absent.
    pub fn idle_seconds(&self, key: &[u8], now_ms: u64) -> Option<u64> {
        self.idle_ticks(key, now_ms)
            .map(|t| t / LRU_TICKS_PER_SECOND)
    }

    /// How long `key` has gone unused, in LRU clock ticks (the finer unit eviction compares).
    fn idle_ticks(&self, key: &[u8], now_ms: u64) -> Option<u64> {
        self.access_of(key)
            .map(|at| u64::from(lru_clock(now_ms).wrapping_sub(at)))
    }

    /// `key`'s LFU counter after decay (OBJECT FREQ's meaning); `None` when absent.
    pub fn frequency(&self, key: &[u8], now_ms: u64) -> Option<u32> {
        let decay = match self.tracking {
            AccessTracking::Lfu { decay_minutes, .. } => decay_minutes,
            _ => 1,
        };
        self.access_of(key)
            .map(|access| lfu_decayed(access, decay, now_ms))
    }

    /// Sets `key`'s access data as RESTORE's IDLETIME or FREQ asks (Redis's
    /// `objectSetLRUOrLFU`): the idle time under an LRU policy, the counter under an LFU one;
    /// the other is ignored, as in Redis.
    pub fn restore_access(
        &mut self,
        key: &[u8],
        idle_seconds: Option<u64>,
        freq: Option<u8>,
        now_ms: u64,
    ) {
        let tracking = self.tracking;
        let Some(slot) = self.table.get_mut(key) else {
            return;
        };
        match (tracking, idle_seconds, freq) {
            (AccessTracking::Lfu { .. }, _, Some(f)) => {
                slot.access = (lfu_minutes(now_ms) << 8) | u32::from(f);
            }
            (AccessTracking::Lru, Some(idle), _) => {
                let ticks = idle.saturating_mul(LRU_TICKS_PER_SECOND) as u32;
                slot.access = lru_clock(now_ms).wrapping_sub(ticks);
            }
            _ => {}
        }
    }

    /// An eviction score for `key`: higher goes first. LRU: idle time; LFU: rarity.
    pub fn eviction_score(&self, key: &[u8], lfu: bool, now_ms: u64) -> Option<u64> {
        if lfu {
            self.frequency(key, now_ms)
                .map(|f| 255 - u64::from(f.min(255)))
        } else {
            self.idle_ticks(key, now_ms)
        }
    }

    /// Sets how lookups record access.
    pub fn set_tracking(&mut self, tracking: AccessTracking) {
        self.tracking = tracking;
    }

    /// Whether lookups leave access data alone (CLIENT NO-TOUCH).
    pub fn set_untouched(&mut self, untouched: bool) {
        self.untouched = untouched;
    }

    /// Whether a log is being loaded (no key expires meanwhile).
    pub fn set_loading(&mut self, loading: bool) {
        self.loading = loading;
    }

    /// Whether a log is being loaded: a time already past then still sets an expiry instead
    /// of deleting the key, as in Redis, so the replay meets the data the log was written on.
    pub fn is_loading(&self) -> bool {
        self.loading
    }

    /// Starts or stops keeping the keys that expire, for the journal; `logged` is raised
    /// whenever this database logs one (see [`Keyspace::take_expiry_signal`]).
    pub fn set_expiry_logging(&mut self, logged: Option<Arc<AtomicBool>>) {
        self.expired_log = logged.map(|logged| ExpiryLog {
            keys: Vec::new(),
            logged,
        });
    }

    /// The keys that expired since the last call.
    pub fn take_expired_log(&mut self) -> Vec<Bytes> {
        self.expired_log
            .as_mut()
            .map(|log| std::mem::take(&mut log.keys))
            .unwrap_or_default()
    }

    /// Whether expired keys stay (CLIENT PAUSE).
    pub fn set_expiry_frozen(&mut self, frozen: bool) {
        self.expiry_frozen = frozen;
    }

    /// xorshift64*: LFU's coin tosses need no quality, only speed and no lock.
    fn next_random(&mut self) -> f64 {
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let n = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (n >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Stores `value` at `key`, dropping any time to live unless `keep_ttl`.
    pub fn set(&mut self, key: Bytes, value: Value, keep_ttl: bool) {
        if matches!(&value, Value::Stream(s) if s.idmp.producer_count() > 0) {
            self.track_idmp(&key);
        }
        if matches!(&value, Value::Hash(h) if h.has_ttls())
            && !self.field_expiry_keys.contains(&key)
        {
            self.field_expiry_keys.insert(Bytes::copy_from_slice(&key));
        }
        if !keep_ttl {
            self.persist(&key);
        }
        let access = new_access(self.tracking, now_for_new_key());
        if let Some(entry) = self.table.get_mut(&key) {
            entry.value = value;
            entry.access = access;
            return;
        }
        if self.queued_classes & crate::notify::NEW != 0 {
            self.key_events
                .push((crate::notify::NEW, "new", Bytes::copy_from_slice(&key)));
        }
        // The table copies the key: keys arrive as slices of a connection's read buffer, and
        // a stored one must not pin that whole buffer for its lifetime.
        self.table.insert_new(&key, value, access);
    }

    /// Logs a hash field removed because its time passed, for the journal.
    pub fn note_expired_field(&mut self, key: &Bytes, field: &Bytes) {
        if let Some(log) = &self.expired_log {
            self.expired_field_log.push((key.clone(), field.clone()));
            log.signal();
        }
    }

    /// The hash fields that expired since the last call, for the journal.
    pub fn take_expired_field_log(&mut self) -> Vec<(Bytes, Bytes)> {
        std::mem::take(&mut self.expired_field_log)
    }

    /// Whether no hash of this database has ever had field times since it was last swept
    /// clean: the hash commands then skip looking for expired fields.
    pub fn no_field_times(&self) -> bool {
        self.field_expiry_keys.is_empty()
    }

    /// How many hashes have fields with times (INFO keyspace's `subexpiry`).
    pub fn hashes_with_field_times(&self) -> usize {
        self.field_expiry_keys
            .iter()
            .filter(|k| matches!(self.peek(k), Some(Value::Hash(h)) if h.has_ttls()))
            .count()
    }

    /// Lists the hash at `key` for the cron's sweep when some of its fields have times.
    pub fn track_field_expiry(&mut self, key: &[u8]) {
        let has = matches!(self.peek(key), Some(Value::Hash(h)) if h.has_ttls());
        if has && !self.field_expiry_keys.contains(key) {
            self.field_expiry_keys.insert(Bytes::copy_from_slice(key));
        }
    }

    /// Removes the fields whose time passed from up to `max` listed hashes, continuing where
    /// the last call stopped: (key, fields removed, whether the key went) for each hash that
    /// lost fields. A hash found without times (or gone) leaves the list.
    pub fn expire_fields(&mut self, now_ms: u64, max: usize) -> Vec<(Bytes, Vec<Bytes>, bool)> {
        let mut done = Vec::new();
        if self.loading || self.expiry_frozen {
            return done;
        }
        let from = match self.field_expiry_cursor.take() {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let keys: Vec<Bytes> = self
            .field_expiry_keys
            .range((from, Bound::Unbounded))
            .take(max)
            .cloned()
            .collect();
        if keys.len() == max {
            self.field_expiry_cursor = keys.last().cloned();
        }
        for key in keys {
            let Some(Value::Hash(hash)) = self.table.get_mut(&key).map(|e| &mut e.value) else {
                self.field_expiry_keys.remove(&key);
                continue;
            };
            let due = hash.expired_fields(now_ms);
            for field in &due {
                hash.remove(field);
            }
            let (emptied, timed) = (hash.is_empty(), hash.has_ttls());
            if !timed {
                self.field_expiry_keys.remove(&key);
            }
            if due.is_empty() {
                continue;
            }
            for field in &due {
                self.note_expired_field(&key, field);
            }
            if emptied {
                self.remove(&key);
            }
            done.push((key, due, emptied));
        }
        done
    }

    /// Which events to queue for keyspace notifications (see `queued_classes`).
    pub fn queue_key_events(&mut self, classes: u16) {
        self.queued_classes = classes;
        if classes == 0 {
            self.key_events = Vec::new();
        }
    }

    /// The queued keyspace events, oldest first.
    pub fn take_key_events(&mut self) -> Vec<(u16, &'static str, Bytes)> {
        std::mem::take(&mut self.key_events)
    }

    /// Removes `key` and its time to live.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        self.table.remove(key).map(|entry| entry.into_value())
    }

    /// Sets the absolute expiry time (ms) of an existing key.
    pub fn set_expiry(&mut self, key: &[u8], at_ms: u64) {
        self.table.set_expiry(key, at_ms);
    }

    /// Removes the time to live; returns whether there was one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.table.persist(key)
    }

    /// Absolute expiry time of a key, if it has one.
    pub fn expiry(&self, key: &[u8]) -> Option<u64> {
        self.table.expiry(key)
    }

    /// A copy of every key, value and expiry, for an AOF rewrite. Cheap per key: strings
    /// share their bytes and streams their nodes (copied on write later), so the engine lock
    /// is held for a walk over the keys, not a copy of the data. Keys already expired are
    /// kept with their time: the rewrite writes what the log would replay.
    pub fn snapshot(&self) -> Vec<(Bytes, Value, Option<u64>)> {
        self.table
            .iter()
            .map(|e| {
                let key = e.key();
                let expiry = self.table.expiry(key);
                (Bytes::copy_from_slice(key), e.value.clone(), expiry)
            })
            .collect()
    }

    /// Every key (expired-but-unreclaimed keys filtered by the caller's `now`).
    pub fn keys(&self, now_ms: u64) -> impl Iterator<Item = &[u8]> {
        self.table
            .iter()
            .map(|e| e.key())
            .filter(move |k| self.table.expiry(k).is_none_or(|at| at > now_ms))
    }

    /// A key picked at random from `seed` (RANDOMKEY, eviction's sampling).
    pub fn any_key(&self, seed: u64) -> Option<Bytes> {
        self.table
            .random(seed)
            .map(|e| Bytes::copy_from_slice(e.key()))
    }

    /// One SCAN step: about `count` keys from `cursor` on (whole buckets, as Redis returns
    /// them), and the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let mut keys = Vec::new();
        let next = self.table.scan(cursor, count, |e| {
            keys.push(Bytes::copy_from_slice(e.key()))
        });
        (next, keys)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        let (expired, tracking, frozen) = (self.lazily_expired, self.tracking, self.expiry_frozen);
        let (log, loading) = (self.expired_log.take(), self.loading);
        let queued = self.queued_classes;
        *self = Db::default();
        self.queued_classes = queued;
        self.loading = loading;
        self.lazily_expired = expired;
        self.tracking = tracking;
        self.expiry_frozen = frozen;
        self.expired_log = log;
    }

    /// The first key with a time to live from a random bucket on, looking at most at `reach`
    /// keys; `None` when none was met.
    pub fn any_volatile_key(&self, seed: u64, reach: usize) -> Option<Bytes> {
        self.table
            .any_volatile(seed, reach)
            .map(|e| Bytes::copy_from_slice(e.key()))
    }

    /// The key whose time to live ends first (volatile-ttl's choice).
    pub fn soonest_expiring(&self) -> Option<(u64, Bytes)> {
        self.table
            .by_expiry()
            .next()
            .map(|(at, key)| (at, Bytes::copy_from_slice(key)))
    }

    /// How many keys expired on access since the last call; the counter restarts at zero.
    pub fn take_lazily_expired(&mut self) -> u64 {
        std::mem::take(&mut self.lazily_expired)
    }

    /// Reclaims up to `max` keys whose time has come; returns how many.
    pub fn expire_due(&mut self, now_ms: u64, max: usize) -> usize {
        let mut due = Vec::new();
        for (at, key) in self.table.by_expiry() {
            if at > now_ms || due.len() >= max {
                break;
            }
            due.push(Bytes::copy_from_slice(key));
        }
        for key in &due {
            if let Some(Value::Stream(_)) = self.remove(key) {
                self.expired_streams.push(key.clone());
            }
            if self.queued_classes & crate::notify::EXPIRED != 0 {
                self.key_events
                    .push((crate::notify::EXPIRED, "expired", key.clone()));
            }
        }
        if let Some(log) = self.expired_log.as_mut() {
            log.keys.extend(due.iter().cloned());
            if !due.is_empty() {
                log.signal();
            }
        }
        due.len()
    }

    /// Lists a stream that now remembers idempotent IDs for [`Db::expire_idmp`].
    pub fn track_idmp(&mut self, key: &[u8]) {
        if !self.idmp_keys.contains(key) {
            self.idmp_keys.insert(Bytes::copy_from_slice(key));
        }
    }

    /// Forgets expired idempotent IDs in up to `max` listed streams, continuing where the
    /// last call stopped; returns how many streams were looked at.
    pub fn expire_idmp(&mut self, now_ms: u64, max: usize) -> usize {
        let from = match self.idmp_cursor.take() {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let keys: Vec<Bytes> = self
            .idmp_keys
            .range((from, Bound::Unbounded))
            .take(max)
            .cloned()
            .collect();
        for key in &keys {
            let still = match self.table.get_mut(key).map(|e| &mut e.value) {
                Some(Value::Stream(s)) => {
                    s.idmp.expire(now_ms);
                    s.idmp.producer_count() > 0
                }
                _ => false,
            };
            if !still {
                self.idmp_keys.remove(key);
            }
        }
        // A short batch reached the end: the next sweep starts over.
        self.idmp_cursor = keys.last().filter(|_| keys.len() == max).cloned();
        keys.len()
    }

    /// Heap bytes of the keys and values (approximate).
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }
}

impl Keyspace {
    /// Sets how every database records access to keys.
    pub fn set_access_tracking(&mut self, tracking: AccessTracking) {
        for db in &mut self.dbs {
            db.set_tracking(tracking);
        }
    }

    /// Whether lookups leave access data alone, while a CLIENT NO-TOUCH client's command runs.
    pub fn set_untouched(&mut self, untouched: bool) {
        for db in &mut self.dbs {
            db.set_untouched(untouched);
        }
    }

    /// Marks every database as loading a log, or done loading.
    pub fn set_loading(&mut self, loading: bool) {
        for db in &mut self.dbs {
            db.set_loading(loading);
        }
    }

    /// Starts or stops keeping expired keys for the journal, in every database.
    pub fn set_expiry_logging(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.set_expiry_logging(on.then(|| self.expiry_logged.clone()));
        }
    }

    /// Whether any database logged an expired key or field since the last call: checked
    /// after every command while a journal is attached, so it is one flag, not a look at
    /// every database's logs (sixteen structures, a cache line or more each).
    pub fn take_expiry_signal(&mut self) -> bool {
        // A plain load first: the flag is nearly always down, and a swap would be a locked
        // read-modify-write on every logged command.
        self.expiry_logged.load(Ordering::Relaxed)
            && self.expiry_logged.swap(false, Ordering::Relaxed)
    }

    /// Freezes or thaws expiry in every database (CLIENT PAUSE); cheap when unchanged.
    pub fn set_expiry_frozen(&mut self, frozen: bool) {
        if self.expiry_frozen == frozen {
            return;
        }
        self.expiry_frozen = frozen;
        for db in &mut self.dbs {
            db.set_expiry_frozen(frozen);
        }
    }

    /// `databases` empty databases (the `databases` directive; Redis's default is 16).
    pub fn with_databases(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases.max(1)).map(|_| Db::default()).collect(),
            ..Keyspace::default()
        }
    }
}

/// Every database plus the WATCH registry.
#[derive(Debug)]
pub struct Keyspace {
    /// The databases, indexed by SELECT's number: as many as the `databases` directive says.
    pub dbs: Vec<Db>,
    /// Clients blocked on keys; every touch tells them.
    pub blocking: crate::blocking::Blocking,
    /// Watched keys and their version: a write to a watched key bumps it, and EXEC compares.
    watched: HashMap<(usize, Bytes), Watch>,
    /// Whether the databases' expiry is frozen (see [`Keyspace::set_expiry_frozen`]).
    expiry_frozen: bool,
    /// Raised by a database that logged an expiry for the journal (see
    /// [`Keyspace::take_expiry_signal`]); shared with every database's [`ExpiryLog`].
    expiry_logged: Arc<AtomicBool>,
}

/// A database's expired keys kept for the journal, and the keyspace's flag it raises when it
/// adds one. Only the engine's lock holder touches either; the flag is atomic because the
/// keyspace and its databases share it.
#[derive(Debug)]
struct ExpiryLog {
    keys: Vec<Bytes>,
    logged: Arc<AtomicBool>,
}

impl ExpiryLog {
    fn signal(&self) {
        self.logged.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Watch {
    version: u64,
    watchers: usize,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            dbs: (0..DATABASES).map(|_| Db::default()).collect(),
            blocking: crate::blocking::Blocking::default(),
            watched: HashMap::new(),
            expiry_frozen: false,
            expiry_logged: Arc::default(),
        }
    }
}

impl Keyspace {
    /// Tells the clients blocked on streams of `db` that expired since the last call (they
    /// are released with an error, as when the stream is deleted). Cheap when none did.
    pub fn signal_expired_streams(&mut self, db: usize) {
        let Some(d) = self.dbs.get_mut(db) else {
            return;
        };
        if d.expired_streams.is_empty() {
            return;
        }
        for key in std::mem::take(&mut d.expired_streams) {
            self.blocking.signal(db, &key);
        }
    }

    /// After a command run in `db`: tells the clients blocked on streams the command found
    /// expired, in `db` or in any database someone waits in (MOVE, COPY ... DB and a
    /// transaction's SELECT look keys up in another one). `db`'s list is emptied either
    /// way, so it stays short; the expiry cycle empties the others.
    pub fn signal_expired_streams_after_command(&mut self, db: usize) {
        self.signal_expired_streams(db);
        loop {
            let dbs = &self.dbs;
            let expired = |other: &usize| {
                dbs.get(*other)
                    .is_some_and(|d| !d.expired_streams.is_empty())
            };
            let Some(other) = self.blocking.waiting_dbs().find(expired) else {
                return;
            };
            self.signal_expired_streams(other);
        }
    }

    /// Records that `key` in `db` changed, which aborts transactions that WATCH it.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.blocking.signal(db, key);
        if self.watched.is_empty() {
            return;
        }
        if let Some(w) = self.watched.get_mut(&(db, Bytes::copy_from_slice(key))) {
            w.version += 1;
        }
    }

    /// Touches every watched key of `db` (FLUSHDB, SWAPDB).
    pub fn touch_db(&mut self, db: usize) {
        self.blocking.signal_db(db);
        for ((d, _), w) in self.watched.iter_mut() {
            if *d == db {
                w.version += 1;
            }
        }
    }

    /// [`touch_db`](Self::touch_db) as Redis does it for FLUSHDB, FLUSHALL and SWAPDB: only the
    /// watched keys that exist in `db`, or in `other` (the database swapped in), are touched,
    /// so a transaction watching an absent key survives a flush. Call it before the change.
    pub fn touch_db_existing(&mut self, db: usize, other: Option<usize>) {
        self.blocking.signal_db(db);
        let dbs = &self.dbs;
        for ((d, key), w) in self.watched.iter_mut() {
            let exists = |i: usize| dbs.get(i).is_some_and(|x| x.table.contains(key));
            if *d == db && (exists(db) || other.is_some_and(exists)) {
                w.version += 1;
            }
        }
    }

    /// Starts watching; returns the version to compare at EXEC.
    pub fn watch(&mut self, db: usize, key: Bytes) -> u64 {
        let w = self
            .watched
            .entry((db, Bytes::copy_from_slice(&key)))
            .or_default();
        w.watchers += 1;
        w.version
    }

    /// Stops watching (UNWATCH, EXEC, DISCARD, disconnect).
    pub fn unwatch(&mut self, db: usize, key: &Bytes) {
        let slot = (db, key.clone());
        if let Some(w) = self.watched.get_mut(&slot) {
            w.watchers -= 1;
            if w.watchers == 0 {
                self.watched.remove(&slot);
            }
        }
    }

    /// Current version of a watched key.
    pub fn watch_version(&self, db: usize, key: &Bytes) -> u64 {
        self.watched
            .get(&(db, key.clone()))
            .map(|w| w.version)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_and_strings_do_not_pin_the_request_buffer() {
        let frame = Bytes::from(vec![b'x'; 16 * 1024]);
        let inside = |b: &Bytes| {
            let start = frame.as_ptr() as usize;
            let p = b.as_ptr() as usize;
            p >= start && p < start + frame.len()
        };
        let mut db = Db::default();
        db.set(
            frame.slice(0..3),
            Value::Str(Str::new(&frame[3..40])),
            false,
        );
        let Some(Value::Str(Str::Long(value))) = db.peek(b"xxx") else {
            panic!("expected one long string");
        };
        assert!(!inside(value));
    }

    #[test]
    fn lazy_expiry_and_scan_cover_all_keys() {
        let mut db = Db::default();
        for i in 0..50 {
            db.set(
                Bytes::from(format!("k{i}")),
                Value::Str(Str::new(b"")),
                false,
            );
        }
        db.set_expiry(b"k3", 100);
        assert!(db.contains(b"k3", 99));
        assert!(!db.contains(b"k3", 100));
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = db.scan(cursor, 7);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 49);
    }
}
