//! Blocking reads: clients waiting on keys, served first-come first-served.
//!
//! A read that finds nothing and may block registers a [`Waiter`] on its keys. Every write
//! marks its key ready; after the command (or the whole EXEC) the engine re-runs, under the
//! same lock and in the order the clients blocked, the reads of the waiters on ready keys. A
//! read that now has an answer (data, or an error such as NOGROUP) fills the waiter's slot and
//! wakes its task. Nothing here needs an async runtime: the slot is a plain future.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::reply::Reply;

/// The read a waiter re-runs when one of its keys changes.
#[derive(Debug, Clone)]
pub enum BlockedRead {
    /// XREAD: entries after these IDs.
    XRead {
        /// The streams, in the order XREAD named them; the reply keeps that order.
        keys: Vec<Bytes>,
        /// Where each key's read starts, resolved when the client blocked: a `$` is already the ID
        /// that was last then, so entries added meanwhile are not skipped.
        from: Vec<crate::command::xread::ReadFrom>,
        /// COUNT per stream; 0 means no limit.
        count: usize,
        /// MAXCOUNT and MAXSIZE over the whole reply.
        caps: crate::command::read_args::ReplyCaps,
    },
    /// XREADGROUP with `>`: new entries for a consumer of a group.
    XReadGroup(crate::command::xreadgroup::GroupRead),
    /// BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP: a pop from the first non-empty list.
    ListPop(crate::command::lists::BlockedPop),
}

impl BlockedRead {
    /// The keys the read waits on.
    pub fn keys(&self) -> &[Bytes] {
        match self {
            BlockedRead::XRead { keys, .. } => keys,
            BlockedRead::XReadGroup(read) => &read.keys,
            BlockedRead::ListPop(pop) => &pop.keys,
        }
    }
}

/// Where the reply for a blocked client lands.
#[derive(Default)]
pub struct Slot {
    inner: Mutex<SlotInner>,
}

#[derive(Default)]
struct SlotInner {
    reply: Option<Reply>,
    waker: Option<Waker>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Slot {
    /// Delivers the reply and wakes the waiting task.
    pub fn fill(&self, reply: Reply) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.reply = Some(reply);
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Takes the reply if it came.
    pub fn take(&self) -> Option<Reply> {
        self.inner.lock().reply.take()
    }
}

/// A future that resolves to the reply of a blocked command.
pub struct BlockedReply {
    pub(crate) slot: Arc<Slot>,
}

impl Future for BlockedReply {
    type Output = Reply;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let mut inner = self.slot.inner.lock();
        match inner.reply.take() {
            Some(r) => Poll::Ready(r),
            None => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Waits for a blocked command's reply on the calling thread (the synchronous
/// [`crate::Session::execute`]): the thread parks until the slot is filled by the write that
/// serves the waiter or by its timeout.
pub(crate) fn wait_on_thread(mut blocked: BlockedReply) -> Reply {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(reply) = Pin::new(&mut blocked).poll(&mut cx) {
            return reply;
        }
        std::thread::park();
    }
}

/// One blocked client.
pub struct Waiter {
    /// The blocked client's ID (CLIENT ID); waiters are registered by it.
    pub client: u64,
    /// The database the keys live in: the one selected when the client blocked.
    pub db: usize,
    /// RESP version (2 or 3) the reply is shaped for, fixed when the client blocked.
    pub protocol: u8,
    /// The read re-run whenever one of its keys is written.
    pub read: BlockedRead,
    /// Where the answer goes; the client's task awaits the other end as a `BlockedReply`.
    pub slot: Arc<Slot>,
    /// Block timeout in ms; 0 waits forever.
    pub timeout_ms: u64,
    /// This block's number, set by [`Blocking::block`].
    pub block: u64,
}

/// The clients blocked on one key, in blocking order.
///
/// Removing a waiter (served, timed out, gone) must cost O(1), or waking N readers of one key
/// costs O(N^2). So removal only counts: the queue keeps the stale `(client, block)` entry,
/// which readers of the queue skip (its waiter is gone, or blocked again under a newer block
/// number), and the queue is compacted once stale entries outnumber live ones.
#[derive(Debug, Default)]
struct KeyQueue {
    entries: VecDeque<(u64, u64)>,
    live: usize,
    /// Already in `Blocking::ready`: a key is served once per round however often written.
    ready: bool,
}

/// Every blocked client, by key and in blocking order.
#[derive(Default)]
pub struct Blocking {
    waiters: HashMap<u64, Waiter>,
    /// Per database, the queue of each key someone waits on.
    by_key: HashMap<usize, HashMap<Bytes, KeyQueue>>,
    /// Keys written since waiters were last served, in the order they were first written.
    ready: Vec<(usize, Bytes)>,
    /// Numbers each block, so a queue entry of an earlier block of the same client is told
    /// apart from its current one.
    next_block: u64,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("waiters", &self.waiters.len())
            .finish()
    }
}

impl Blocking {
    /// The keys of blocked `XREADGROUP ... CLAIM` reads, with the database, group and
    /// minimum idle time of each (their entries become claimable as time passes, with no
    /// write to wake them).
    pub fn claim_reads(&self) -> Vec<(usize, Bytes, Bytes, u64)> {
        let mut out = Vec::new();
        for waiter in self.waiters.values() {
            if let BlockedRead::XReadGroup(read) = &waiter.read {
                if let Some(min_idle) = read.claim {
                    for key in &read.keys {
                        out.push((waiter.db, key.clone(), read.group.clone(), min_idle));
                    }
                }
            }
        }
        out
    }

    /// Number of blocked clients (INFO's `blocked_clients`).
    pub fn count(&self) -> usize {
        self.waiters.len()
    }

    /// Registers a waiter on the keys of its read. A client blocks at most once at a time;
    /// a previous block of the same client is dropped first.
    pub fn block(&mut self, mut waiter: Waiter) {
        self.remove(waiter.client);
        self.next_block += 1;
        waiter.block = self.next_block;
        let keys = self.by_key.entry(waiter.db).or_default();
        for key in waiter.read.keys() {
            let queue = keys.entry(key.clone()).or_default();
            queue.entries.push_back((waiter.client, waiter.block));
            queue.live += 1;
        }
        self.waiters.insert(waiter.client, waiter);
    }

    /// Removes a client's waiter (served, timed out, or disconnected): O(1) per key, amortized.
    pub fn remove(&mut self, client: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&client)?;
        let Some(keys) = self.by_key.get_mut(&waiter.db) else {
            return Some(waiter);
        };
        for key in waiter.read.keys() {
            let Some(queue) = keys.get_mut(key) else {
                continue;
            };
            queue.live = queue.live.saturating_sub(1);
            if queue.live == 0 {
                // A ready flag dies with the queue; `take_ready` skips keys no longer here.
                keys.remove(key);
            } else if queue.entries.len() > 2 * queue.live + 8 {
                let waiters = &self.waiters;
                queue
                    .entries
                    .retain(|(c, b)| waiters.get(c).is_some_and(|w| w.block == *b));
            }
        }
        if keys.is_empty() {
            self.by_key.remove(&waiter.db);
        }
        Some(waiter)
    }

    /// Notes a write to a key, if anyone waits on it.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        if self.by_key.is_empty() {
            return;
        }
        let Some(queue) = self.by_key.get_mut(&db).and_then(|keys| keys.get_mut(key)) else {
            return;
        };
        if !queue.ready {
            queue.ready = true;
            self.ready.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Notes that every key of a database may have changed (FLUSHDB, SWAPDB...).
    pub fn signal_db(&mut self, db: usize) {
        let Some(keys) = self.by_key.get_mut(&db) else {
            return;
        };
        for (key, queue) in keys.iter_mut() {
            if !queue.ready {
                queue.ready = true;
                self.ready.push((db, key.clone()));
            }
        }
    }

    /// Takes the ready keys and, per key, the clients waiting on it in blocking order.
    pub fn take_ready(&mut self) -> Vec<Vec<u64>> {
        let ready = std::mem::take(&mut self.ready);
        let mut out = Vec::with_capacity(ready.len());
        for (db, key) in ready {
            let Some(queue) = self.by_key.get_mut(&db).and_then(|keys| keys.get_mut(&key)) else {
                continue;
            };
            queue.ready = false;
            let waiters = &self.waiters;
            out.push(
                queue
                    .entries
                    .iter()
                    .filter(|(c, b)| waiters.get(c).is_some_and(|w| w.block == *b))
                    .map(|(c, _)| *c)
                    .collect(),
            );
        }
        out
    }

    /// Whether any key is waiting to be served.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The databases someone waits in.
    pub fn waiting_dbs(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_key.keys().copied()
    }

    /// The waiter of a client, if blocked.
    pub fn get(&self, client: u64) -> Option<&Waiter> {
        self.waiters.get(&client)
    }
}

/// Answers a blocked client's command with `reply` rather than data (its timeout, CLIENT
/// UNBLOCK): the client leaves every key's queue and its task wakes. False if it was not
/// blocked.
pub(crate) fn answer(state: &mut crate::State, client: u64, reply: Reply) -> bool {
    let Some(waiter) = state.keyspace.blocking.remove(client) else {
        return false;
    };
    waiter.slot.fill(reply);
    if let Some(info) = state.clients.by_id.get_mut(&client) {
        info.last_interaction_ms = crate::now_ms();
    }
    true
}

/// Timeouts of blocked clients (embedded sessions and server connections alike), run by one
/// lazily started thread per engine, so blocking reads work under any async runtime (or
/// none), and a timeout and a wake-up decide under the engine lock which one answers.
pub(crate) mod timer {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::sync::{Arc, Weak};
    use std::time::Instant;

    use parking_lot::{Condvar, Mutex};

    use super::Slot;
    use crate::reply::Reply;
    use crate::Shared;

    struct Deadline {
        at: Instant,
        client: u64,
        slot: Weak<Slot>,
    }

    impl PartialEq for Deadline {
        fn eq(&self, other: &Self) -> bool {
            self.at == other.at
        }
    }
    impl Eq for Deadline {}
    impl PartialOrd for Deadline {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Deadline {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.at.cmp(&other.at)
        }
    }

    /// The pending deadlines and the condition the timer thread sleeps on.
    #[derive(Default)]
    pub(crate) struct Timer {
        queue: Mutex<Deadlines>,
        wake: Condvar,
        started: Mutex<bool>,
    }

    /// The pending deadlines. A block answered before its timeout leaves its deadline here
    /// (removing it from a heap would cost a search); those are dropped in bulk whenever
    /// the heap has doubled since the last sweep, so a busy worker loop of short blocks
    /// cannot grow it without bound.
    #[derive(Default)]
    struct Deadlines {
        heap: BinaryHeap<Reverse<Deadline>>,
        sweep_at: usize,
    }

    /// The heap is never swept below this size.
    const MIN_SWEEP: usize = 1024;

    impl Timer {
        /// Times out `slot` (the block of `client`) at `at`, unless it was served before.
        pub(crate) fn schedule(
            &self,
            shared: &Arc<Shared>,
            at: Instant,
            client: u64,
            slot: &Arc<Slot>,
        ) {
            {
                let mut started = self.started.lock();
                if !*started {
                    *started = true;
                    let weak = Arc::downgrade(shared);
                    let _ = std::thread::Builder::new()
                        .name("rill-block-timer".into())
                        .spawn(move || run(weak));
                }
            }
            let mut queue = self.queue.lock();
            queue.heap.push(Reverse(Deadline {
                at,
                client,
                slot: Arc::downgrade(slot),
            }));
            if queue.heap.len() >= queue.sweep_at.max(MIN_SWEEP) {
                // A slot nobody holds any more belongs to a block already answered.
                queue.heap.retain(|Reverse(d)| d.slot.strong_count() > 0);
                queue.sweep_at = 2 * queue.heap.len();
            }
            drop(queue);
            self.wake.notify_one();
        }
    }

    /// Fires due deadlines until the engine is gone.
    fn run(shared: Weak<Shared>) {
        loop {
            let Some(engine) = shared.upgrade() else {
                return;
            };
            let timer = &engine.timer;
            let mut queue = timer.queue.lock();
            let now = Instant::now();
            let mut due = Vec::new();
            while queue.heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
                if let Some(Reverse(d)) = queue.heap.pop() {
                    due.push(d);
                }
            }
            if due.is_empty() {
                // Sleep until the next deadline, at most a second so a dropped engine is
                // noticed.
                let wait = queue
                    .heap
                    .peek()
                    .map(|Reverse(d)| d.at.saturating_duration_since(now))
                    .unwrap_or(std::time::Duration::from_secs(1))
                    .min(std::time::Duration::from_secs(1));
                let _ = timer.wake.wait_for(&mut queue, wait);
                continue;
            }
            drop(queue);
            let mut state = engine.state.lock();
            for d in due {
                let Some(slot) = d.slot.upgrade() else {
                    continue;
                };
                // The client may have been served and blocked again since: only its own
                // block times out.
                let same = state
                    .keyspace
                    .blocking
                    .get(d.client)
                    .is_some_and(|w| Arc::ptr_eq(&w.slot, &slot));
                if same {
                    super::answer(&mut state, d.client, Reply::NullArray);
                }
            }
        }
    }
}
