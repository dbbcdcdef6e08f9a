//! [`Worker`]: the loop of one running consumer: read, handle, acknowledge, retry, reclaim.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use rill_engine::StreamId;
use tokio::task::{Id as TaskId, JoinError, JoinSet};

use super::metrics::Metrics;
use super::options::ConsumerOptions;
use super::retry::{Retry, RetryQueue};
use super::shutdown::Shutdown;
use super::verdict::Failure;
use super::Consumer;
use crate::codec::Fields;
use crate::error::{Error, Result};
use crate::parse;
use crate::stream::{with_id, Stream};
use crate::types::{Entry, IdRange, NackMode, PendingQuery};

/// How many own pending entries a consumer lists per XPENDING call when it starts.
const RECOVERY_PAGE: usize = 1000;

/// Room for rounding when comparing our clock with the server's idle times (ms resolution).
const CLOCK_SLACK: Duration = Duration::from_millis(1);

/// `at` plus `wait`, or a century later when `wait` is beyond what an `Instant` holds (a
/// `claim_idle` or backoff of `Duration::MAX` means "never", not a panic).
fn after(at: Instant, wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(wait)
        .or_else(|| at.checked_add(CENTURY))
        .unwrap_or(at)
}

/// An entry the consumer holds: how many times the server delivered it, and since when this
/// consumer has it (for the min-idle of its retry claim).
pub(super) struct Delivery {
    pub(super) id: StreamId,
    pub(super) fields: Option<Fields>,
    pub(super) deliveries: u64,
    pub(super) held_since: Instant,
}

/// The running state of one consumer.
pub(super) struct Worker<T> {
    pub(super) stream: Stream<T>,
    pub(super) group: String,
    pub(super) name: String,
    pub(super) opts: ConsumerOptions,
    pub(super) metrics: Metrics,
    pub(super) dead_letter_key: String,
    retries: RetryQueue,
    recovered: bool,
    reclaim_cursor: StreamId,
    reclaim_at: Instant,
    /// Where the CLAIM path's next look for deleted pending entries starts (see
    /// [`Worker::sweep_deleted`]).
    sweep_cursor: StreamId,
    /// Handled (or dead-lettered) entries not acknowledged yet: one XACK per fetch.
    pub(super) acks: Vec<StreamId>,
    /// Fetched entries waiting for a handler slot (at most one fetch's worth).
    buffer: VecDeque<Delivery>,
    /// The handlers running, and the entry each one handles.
    running: JoinSet<HandlerOutcome>,
    handled: HashMap<TaskId, Delivery>,
    /// An error that ends the run (a dead letter the server refused), raised at the end
    /// of the turn that met it.
    pub(super) fatal: Option<Error>,
}

/// What a handler task ends with: `Err` carries the failure's text.
type HandlerOutcome = std::result::Result<(), Failure>;

/// What is worth waiting out: a lost connection, and a server that says it cannot answer
/// yet (loading its data after a restart, busy with a script, a cluster reconfiguring or
/// a replica without its master). Anything else is a bug or a misconfiguration.
pub(super) fn is_transient(e: &Error) -> bool {
    match e {
        Error::Connection(_) => true,
        Error::Server { code, .. } => matches!(
            code.as_str(),
            "LOADING" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "MASTERDOWN"
        ),
        _ => false,
    }
}

pub(super) fn arg(text: impl ToString) -> Bytes {
    Bytes::from(text.to_string())
}

impl<T: Send + 'static> Worker<T> {
    pub(super) fn new(c: Consumer<T>) -> Worker<T> {
        let dead_letter_key = c.options.dead_letter_key(c.stream.key());
        Worker {
            stream: c.stream,
            group: c.group,
            name: c.name,
            opts: c.options,
            metrics: c.metrics,
            dead_letter_key,
            retries: RetryQueue::default(),
            recovered: false,
            reclaim_cursor: StreamId::MIN,
            reclaim_at: Instant::now(),
            sweep_cursor: StreamId::MIN,
            acks: Vec::new(),
            buffer: VecDeque::new(),
            running: JoinSet::new(),
            handled: HashMap::new(),
            fatal: None,
        }
    }

    pub(super) async fn run<F, Fut, E>(
        &mut self,
        handler: &Arc<F>,
        shutdown: &Shutdown,
    ) -> Result<()>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let mut pause = self.opts.backoff_initial.max(Duration::from_millis(1));
        let outcome = loop {
            if shutdown.is_triggered() {
                break Ok(());
            }
            match self.turn(handler, shutdown).await {
                Ok(()) => pause = self.opts.backoff_initial.max(Duration::from_millis(1)),
                Err(e) if is_transient(&e) => {
                    tracing::warn!(consumer = %self.name, "{e}; trying again in {pause:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.triggered() => {}
                    }
                    pause = (pause * 2).min(self.opts.backoff_max.max(pause));
                }
                Err(e) => break Err(e),
            }
        };
        // The handlers already started always finish, and their outcomes are booked.
        while let Some(done) = self.running.join_next_with_id().await {
            self.book(done).await;
        }
        outcome.and(self.fatal.take().map_or(Ok(()), Err))
    }

    /// The end of a run, however it ended: acknowledges what was handled (a handled entry is
    /// never handed back), then, after a run that ended well, hands back what it holds and
    /// will not handle; answers how many entries this consumer still holds.
    pub(super) async fn wind_down(&mut self, ended_well: bool) -> Result<u64> {
        self.flush_acks().await?;
        if ended_well {
            self.release_held().await;
        }
        self.own_pending().await
    }

    /// What this consumer knows it holds without asking the server (when it cannot be
    /// reached at the end of a run): entries handled but not acknowledged, waiting for a
    /// retry, or fetched and never started.
    pub(super) fn known_held(&self) -> u64 {
        (self.acks.len() + self.retries.len() + self.buffer.len()) as u64
    }

    /// One turn of the loop: start what the buffer holds while there is room; when a handler
    /// slot is free and the buffer is empty, acknowledge what finished and fetch more; when
    /// every slot is taken, wait for a handler to finish. So handlers run continuously up to
    /// `concurrency`, never waiting for the slowest of a batch, and at most `batch_size`
    /// fetched entries wait for a slot.
    async fn turn<F, Fut, E>(&mut self, handler: &Arc<F>, shutdown: &Shutdown) -> Result<()>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        if !self.recovered {
            if let Some(start) = self.opts.create_group {
                self.stream.ensure_group(&self.group, start).await?;
            }
            self.recover().await?;
            self.recovered = true;
        }
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        self.start_buffered(handler, shutdown).await;
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        if shutdown.is_triggered() {
            return Ok(());
        }
        let room = self.running.len() < self.opts.concurrency;
        if !room || !self.buffer.is_empty() {
            self.await_handler(None, shutdown).await;
            if self.acks.len() >= self.opts.batch_size {
                self.flush_acks().await?;
            }
            return Ok(());
        }
        let fetched = self.next_batch(shutdown).await?;
        if fetched.is_empty() && !self.running.is_empty() {
            // Nothing to fetch now, handlers still running: wait for one of them (its slot,
            // its retry), or until a retry or a reclaim pass is due, then fetch again.
            let wait = self.fetch_wait(Instant::now());
            self.await_handler(Some(wait), shutdown).await;
        }
        self.buffer.extend(fetched);
        Ok(())
    }

    /// Waits for the next handler to finish and books it, or at most `limit`, or until
    /// shutdown.
    async fn await_handler(&mut self, limit: Option<Duration>, shutdown: &Shutdown) {
        let limit = limit.unwrap_or(Duration::MAX);
        tokio::select! {
            biased;
            _ = shutdown.triggered() => {}
            Some(done) = self.running.join_next_with_id() => self.book(done).await,
            _ = tokio::time::sleep(limit), if limit < Duration::MAX => {}
        }
    }

    /// Schedules a retry for every entry this consumer's name already holds.
    async fn recover(&mut self) -> Result<()> {
        let mut query = PendingQuery {
            range: IdRange::all(),
            count: RECOVERY_PAGE,
            consumer: Some(self.name.clone()),
            min_idle: None,
        };
        loop {
            let page = self.stream.pending_entries(&self.group, &query).await?;
            let now = Instant::now();
            for p in &page {
                let held_since = now.checked_sub(p.idle).unwrap_or(now);
                let due = after(held_since, self.opts.retry_delay(p.deliveries));
                let retry = Retry {
                    due: due.max(now),
                    deliveries: p.deliveries,
                    held_since,
                };
                self.retries.schedule(p.id, retry);
            }
            match page.last() {
                Some(last) if page.len() == RECOVERY_PAGE => query.range = IdRange::after(last.id),
                _ => return Ok(()),
            }
        }
    }

    /// Due retries, else a reclaim pass's next page, else new entries.
    async fn next_batch(&mut self, shutdown: &Shutdown) -> Result<Vec<Delivery>> {
        let now = Instant::now();
        if self.retries.next_due().is_some_and(|at| at <= now) {
            // Acknowledged first, while the due entries are still queued: a failed flush
            // leaves them there.
            self.flush_acks().await?;
            let due = self.retries.take_due(now, self.opts.batch_size);
            return self.claim_retries(due).await;
        }
        let claim_read = self.claims_in_read();
        if let Some(idle) = self.opts.claim_idle {
            self.renew_held(idle).await?;
        }
        if let Some(idle) = self.opts.claim_idle.filter(|_| now >= self.reclaim_at) {
            self.flush_acks().await?;
            if claim_read {
                self.sweep_gone(idle).await?;
            } else {
                let batch = self.reclaim(idle).await?;
                if !batch.is_empty() {
                    return Ok(batch);
                }
                // An empty page: read new entries meanwhile (without blocking while the pass
                // goes on) rather than scan a long PEL with nothing else happening.
            }
        }
        // With handlers running, never block: their completions must be booked (and their
        // slots refilled) as they come; `turn` waits for them instead.
        let wait = if self.running.is_empty() {
            self.fetch_wait(now)
        } else {
            Duration::ZERO
        };
        // Never BLOCK 0: the server would wait for ever.
        let block = (wait >= Duration::from_millis(1)).then_some(wait);
        self.read(block, claim_read, shutdown).await
    }

    /// `XCLAIM key group <this consumer> <min-idle> id [options]` for an entry this consumer
    /// has held for `held`: the min-idle is that time (less the clock's slack), so the claim
    /// does nothing if anyone took the entry over meanwhile (its idle time restarted).
    fn own_claim(
        &self,
        id: StreamId,
        held: Duration,
        options: impl IntoIterator<Item = Bytes>,
    ) -> Vec<Bytes> {
        let mut command = vec![
            Bytes::from_static(b"XCLAIM"),
            self.stream.key.clone(),
            arg(&self.group),
            arg(&self.name),
            Bytes::from(crate::stream::idle_ms(held.saturating_sub(CLOCK_SLACK))),
            arg(id),
        ];
        command.extend(options);
        command
    }

    /// Keeps the entries this consumer is handling, or holds for a free slot, its own: an
    /// XCLAIM JUSTID of its own (the delivery count unchanged) resets the idle time of each
    /// one held for half of `claim_idle` or more, before a read that may claim. Without it,
    /// with handlers running side by side, a handler slower than `claim_idle` saw its entry
    /// claimed again by this consumer's next read, a delivery counted each time, and a
    /// failure then dead-lettered the entry after one attempt. Each claim asks for the idle
    /// time since this consumer last had the entry, so one another consumer took meanwhile
    /// stays theirs. One round trip, only when something is held that long.
    async fn renew_held(&mut self, claim_idle: Duration) -> Result<()> {
        let due = claim_idle / 2;
        let held: Vec<(StreamId, Duration)> = self
            .handled
            .values()
            .chain(self.buffer.iter())
            .map(|d| (d.id, d.held_since.elapsed()))
            .filter(|&(_, held)| held >= due)
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let commands: Vec<Vec<Bytes>> = held
            .iter()
            .map(|&(id, held)| self.own_claim(id, held, [Bytes::from_static(b"JUSTID")]))
            .collect();
        let replies = self.stream.client.backend.call_many(commands).await?;
        let now = Instant::now();
        for ((id, _), reply) in held.iter().zip(replies) {
            let kept = reply.is_ok_and(|r| parse::array(&r).is_ok_and(|ids| !ids.is_empty()));
            if !kept {
                continue;
            }
            let mine = self.handled.values_mut().chain(self.buffer.iter_mut());
            for delivery in mine.filter(|d| d.id == *id) {
                delivery.held_since = now;
            }
        }
        Ok(())
    }

    /// Books a claimed (reclaimed) entry: false when this consumer holds it already
    /// (fetched and waiting for a slot, or being handled, and idle past claim_idle all the
    /// same): it is handled once, by the delivery in hand. Otherwise any retry of ours for it
    /// is moot, and it counts as reclaimed.
    fn take_over(&mut self, id: StreamId) -> bool {
        if self.buffer.iter().any(|d| d.id == id) || self.handled.values().any(|d| d.id == id) {
            return false;
        }
        self.retries.remove(id);
        Metrics::add(&self.metrics.inner.reclaimed, 1);
        true
    }

    /// Whether reads reclaim idle entries themselves (XREADGROUP ... CLAIM) instead of
    /// separate XAUTOCLAIM passes: allowed, and not refused by the server so far.
    fn claims_in_read(&self) -> bool {
        self.opts.newer_commands
            && self
                .stream
                .client
                .backend
                .features(&self.stream.key)
                .claim_read
                .worth_trying()
    }

    /// New entries; with `claim_read`, after the group's pending entries idle longer than
    /// `claim_idle` (and entries handed back with XNACK, whatever their idle time), claimed
    /// in the same XREADGROUP ... CLAIM: reclaiming costs no call of its own, and each entry
    /// comes with its delivery count. A server without CLAIM refuses the first one; the next
    /// turn takes the XAUTOCLAIM path. The acknowledgements waiting go in the same round
    /// trip, just before the read.
    async fn read(
        &mut self,
        block: Option<Duration>,
        claim_read: bool,
        shutdown: &Shutdown,
    ) -> Result<Vec<Delivery>> {
        // Without claim_idle, only what was handed back with XNACK is claimed.
        let claim = claim_read.then(|| self.opts.claim_idle.unwrap_or(Duration::MAX));
        let request = self.stream.group_read_request(
            &self.group,
            &self.name,
            self.opts.batch_size,
            block,
            claim,
        );
        let acks = (!self.acks.is_empty()).then(|| {
            self.stream
                .ack_request(&self.group, &self.acks, self.opts.delete_on_ack)
        });
        let backend = &self.stream.client.backend;
        let call = async {
            match acks {
                None => (None, backend.call_read(request, block.is_some()).await),
                Some(acks) => match backend
                    .call_read_after(acks, request, block.is_some())
                    .await
                {
                    Ok((acked, read)) => (Some(acked), read),
                    Err(e) => (Some(Err(e.clone())), Err(e)),
                },
            }
        };
        // A read abandoned here may still have been served: its entries then stay in this
        // consumer's PEL, for the next run or a reclaim. Its acknowledgements stay queued and
        // go again (acknowledging twice is harmless).
        let (acked, read) = tokio::select! {
            biased;
            done = call => done,
            _ = shutdown.triggered() => return Ok(Vec::new()),
        };
        let acked = match acked {
            Some(Ok(_)) => {
                self.acks.clear();
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Ok(()),
        };
        let entries = if claim_read {
            let features = self.stream.client.backend.features(&self.stream.key);
            let outcome = read.and_then(|reply| parse::claimed_streams(&reply));
            if features.claim_read.learn(&outcome) {
                // This turn's pass only swept (the read was to reclaim): the XAUTOCLAIM pass
                // runs on the next turn, not one `claim_idle` later.
                self.reclaim_at = Instant::now();
                return acked.map(|()| Vec::new());
            }
            outcome?
        } else {
            parse::group_entries(&read?)?
                .into_iter()
                .map(|raw| (raw, 0, 0))
                .collect()
        };
        let held_since = Instant::now();
        let mut batch = Vec::with_capacity(entries.len());
        for (raw, idle, previous) in entries {
            // New entries come with both at 0; a claimed one was delivered before, or (handed
            // back SILENT, its count back at 0) has been idle since it was handed back.
            if (previous > 0 || idle > 0) && !self.take_over(raw.id) {
                continue;
            }
            batch.push(Delivery {
                id: raw.id,
                fields: raw.fields,
                deliveries: previous.saturating_add(1),
                held_since,
            });
        }
        match acked {
            Ok(()) => Ok(batch),
            Err(e) => {
                // An acknowledgement the server refused ends the turn; the read is kept.
                self.buffer.extend(batch);
                Err(e)
            }
        }
    }

    /// Hands the entries this consumer holds but will not handle back to the group at
    /// shutdown (XNACK, where the server has it), so that other consumers take them at once
    /// rather than after `claim_idle`: fetched ones never started as SILENT (the delivery did
    /// not count), failed ones waiting for their retry as FAIL. Elsewhere they stay in this
    /// consumer's PEL for its next run or a reclaim, as before, but the deliveries of the
    /// ones never started are taken back (see [`Worker::uncount_unstarted`]).
    pub(super) async fn release_held(&mut self) {
        let features = self.stream.client.backend.features(&self.stream.key);
        if !self.opts.newer_commands || !features.nack.worth_trying() {
            self.uncount_unstarted().await;
            return;
        }
        let mut unstarted: Vec<StreamId> = self.buffer.iter().map(|d| d.id).collect();
        let mut failed = self.retries.drain_ids();
        // XNACK names no consumer: hand back only what this one still owns (an entry held
        // longer than claim_idle may have been taken over meanwhile).
        let span = unstarted.iter().chain(&failed).copied();
        if let (Some(first), Some(last)) = (span.clone().min(), span.max()) {
            let held = unstarted.len() + failed.len();
            match self.delivery_counts(first, last, held).await {
                Ok(owned) => {
                    unstarted.retain(|id| owned.contains_key(id));
                    failed.retain(|id| owned.contains_key(id));
                }
                Err(e) => {
                    tracing::warn!(consumer = %self.name, "handing entries back: {e}");
                    return;
                }
            }
        }
        for (mode, ids) in [(NackMode::Silent, unstarted), (NackMode::Fail, failed)] {
            if ids.is_empty() {
                continue;
            }
            let outcome = self.stream.nack(&self.group, mode, &ids).await;
            if features.nack.learn(&outcome) {
                // No XNACK after all (learned now): the fallback's turn.
                self.uncount_unstarted().await;
                return;
            }
            if let Err(e) = outcome {
                tracing::warn!(consumer = %self.name, "handing entries back: {e}");
            }
            if mode == NackMode::Silent {
                self.buffer.clear();
            }
        }
    }

    /// Where the server has no XNACK: the entries fetched and never started stay in this
    /// consumer's PEL, but each gets back the delivery count it had before this fetch (an
    /// XCLAIM of its own with RETRYCOUNT, IDLE keeping its idle time), as XNACK SILENT
    /// would. Otherwise every stop with a backlog would count one delivery more for entries
    /// no handler saw, and a few restarts in a row (a rolling deploy) would dead-letter
    /// healthy entries unhandled. Each claim asks for the idle time the entry has had since
    /// this consumer got it, so an entry another consumer has taken over meanwhile is left
    /// alone. One round trip; failures are only logged (the entries stay pending).
    async fn uncount_unstarted(&mut self) {
        let unstarted: Vec<Delivery> = self.buffer.drain(..).collect();
        let commands: Vec<Vec<Bytes>> = unstarted
            .iter()
            .filter(|d| d.deliveries > 0)
            .map(|d| {
                let held = d.held_since.elapsed();
                let options = [
                    Bytes::from_static(b"IDLE"),
                    Bytes::from(crate::stream::idle_ms(held)),
                    Bytes::from_static(b"RETRYCOUNT"),
                    arg(d.deliveries - 1),
                    Bytes::from_static(b"JUSTID"),
                ];
                self.own_claim(d.id, held, options)
            })
            .collect();
        if commands.is_empty() {
            return;
        }
        let replies = self.stream.client.backend.call_many(commands).await;
        let failure = match replies {
            Ok(replies) => replies.into_iter().find_map(|r| r.err()),
            Err(e) => Some(e),
        };
        if let Some(e) = failure {
            tracing::warn!(consumer = %self.name, "taking back unstarted deliveries: {e}");
        }
    }

    /// How long to wait for new entries: `block`, less when a retry or a reclaim pass is due
    /// sooner.
    fn fetch_wait(&self, now: Instant) -> Duration {
        let mut wait = self.opts.block;
        if let Some(at) = self.retries.next_due() {
            wait = wait.min(at.saturating_duration_since(now));
        }
        if self.opts.claim_idle.is_some() && !self.claims_in_read() {
            wait = wait.min(self.reclaim_at.saturating_duration_since(now));
        }
        wait
    }

    /// Takes due retries back from this consumer's own PEL with XCLAIM (one per entry, in one
    /// round trip), which raises their delivery counts.
    async fn claim_retries(&mut self, due: Vec<(StreamId, Retry)>) -> Result<Vec<Delivery>> {
        let commands = due
            .iter()
            .map(|(id, retry)| self.own_claim(*id, retry.held_since.elapsed(), []))
            .collect();
        let replies = match self.stream.client.backend.call_many(commands).await {
            Ok(replies) => replies,
            Err(e) => {
                for (id, retry) in due {
                    self.retries.schedule(id, retry);
                }
                return Err(e);
            }
        };
        let held_since = Instant::now();
        let mut batch = Vec::with_capacity(due.len());
        for ((id, retry), reply) in due.into_iter().zip(replies) {
            // Nothing back: the entry was deleted, acknowledged, or taken over by another
            // consumer since. Either way it is no longer this consumer's to retry.
            for raw in parse::entries(&reply?)? {
                if raw.id == id {
                    Metrics::add(&self.metrics.inner.retries, 1);
                    batch.push(Delivery {
                        id,
                        fields: raw.fields,
                        deliveries: retry.deliveries + 1,
                        held_since,
                    });
                }
            }
        }
        Ok(batch)
    }

    /// The next page of a reclaim pass (XAUTOCLAIM from the cursor), with each entry's delivery
    /// count, which XAUTOCLAIM does not return, read back in one XPENDING over the claimed IDs'
    /// span for this consumer.
    async fn reclaim(&mut self, min_idle: Duration) -> Result<Vec<Delivery>> {
        let claimed = self
            .stream
            .autoclaim_raw(
                &self.group,
                &self.name,
                min_idle,
                self.reclaim_cursor,
                self.opts.batch_size,
            )
            .await?;
        self.reclaim_cursor = claimed.next;
        if claimed.next == StreamId::MIN {
            self.reclaim_at = after(Instant::now(), (min_idle / 2).max(Duration::from_millis(1)));
        }
        for id in &claimed.deleted {
            self.retries.remove(*id);
        }
        Metrics::add(&self.metrics.inner.gone, claimed.deleted.len() as u64);
        let (Some(first), Some(last)) = (claimed.claimed.first(), claimed.claimed.last()) else {
            return Ok(Vec::new());
        };
        let held_since = Instant::now();
        let counts = self
            .delivery_counts(first.id, last.id, claimed.claimed.len())
            .await?;
        let mut batch = Vec::with_capacity(claimed.claimed.len());
        for entry in claimed.claimed {
            // Not listed: acknowledged or taken over again in between.
            let Some(&deliveries) = counts.get(&entry.id) else {
                continue;
            };
            if !self.take_over(entry.id) {
                continue;
            }
            batch.push(Delivery {
                id: entry.id,
                fields: entry.fields,
                deliveries: deliveries.max(1),
                held_since,
            });
        }
        Ok(batch)
    }

    /// On the CLAIM path, what XAUTOCLAIM does on the other: a claiming read passes over
    /// pending entries whose stream entries are gone (as Redis 8.4 does), so entries trimmed
    /// or deleted (XDEL) while pending would stay in the group's PEL for ever. Each pass
    /// acknowledges a page of the group's pending entries below the stream's first entry
    /// (IDs there can never come back), and, when something at or after the group's oldest
    /// pending entry was ever deleted, looks at a page of the pending entries up to the
    /// highest deleted ID and acknowledges those the stream no longer holds; both only for
    /// entries idle at least `min_idle` (a handler may still hold a fresh one). The first
    /// pass runs when the consumer starts, the next ones every `min_idle` but at most once a
    /// second (nothing waits on them), or at once after a full page.
    async fn sweep_gone(&mut self, min_idle: Duration) -> Result<()> {
        self.reclaim_at = after(Instant::now(), min_idle.max(Duration::from_secs(1)));
        let Some(lowest) = self.stream.pending(&self.group).await?.first_id else {
            return Ok(());
        };
        let info = self.stream.info().await?;
        // Below the first entry, or, in an empty stream, up to the last ID it ever gave:
        // an entry added since has a higher ID and is not touched.
        let end = match info.first_entry_id {
            Some(first) => first.predecessor(),
            None => Some(info.last_generated_id),
        };
        let mut full = false;
        if let Some(end) = end.filter(|&end| end >= lowest) {
            let below_first = self
                .idle_pending(IdRange::between(lowest, end), min_idle)
                .await?;
            full |= below_first.len() == self.opts.batch_size;
            self.give_up(&below_first).await?;
        }
        if info.max_deleted_entry_id >= lowest && info.first_entry_id.is_some() {
            // One page a pass, not hurried by a full one: the page may well be live entries
            // waiting for a consumer, looked up for nothing.
            self.sweep_deleted(min_idle, info.max_deleted_entry_id)
                .await?;
        }
        if full {
            self.reclaim_at = Instant::now();
        }
        Ok(())
    }

    /// One page of the group's pending entries idle at least `min_idle` in `range`.
    async fn idle_pending(&self, range: IdRange, min_idle: Duration) -> Result<Vec<StreamId>> {
        let query = PendingQuery {
            range,
            count: self.opts.batch_size,
            consumer: None,
            min_idle: Some(min_idle),
        };
        let rows = self.stream.pending_entries(&self.group, &query).await?;
        Ok(rows.iter().map(|row| row.id).collect())
    }

    /// Acknowledges pending entries whose stream entries are gone: they count as gone.
    async fn give_up(&mut self, ids: &[StreamId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let released = self.stream.ack(&self.group, ids).await?;
        for id in ids {
            self.retries.remove(*id);
        }
        Metrics::add(&self.metrics.inner.gone, released);
        Ok(())
    }

    /// A page of idle pending entries from `sweep_cursor` up to `deleted` (the highest ID
    /// the stream ever deleted): those the stream no longer holds (an `XRANGE id id` each,
    /// in one round trip) are given up. The cursor moves on, and starts over after the last
    /// page.
    async fn sweep_deleted(&mut self, min_idle: Duration, deleted: StreamId) -> Result<()> {
        if self.sweep_cursor > deleted {
            self.sweep_cursor = StreamId::MIN;
        }
        let page = self
            .idle_pending(IdRange::between(self.sweep_cursor, deleted), min_idle)
            .await?;
        let full = page.len() == self.opts.batch_size;
        self.sweep_cursor = match page.last() {
            Some(last) if full => last.successor().unwrap_or(StreamId::MIN),
            _ => StreamId::MIN,
        };
        let lookups: Vec<Vec<Bytes>> = page
            .iter()
            .map(|id| {
                let id = arg(id);
                vec![
                    Bytes::from_static(b"XRANGE"),
                    self.stream.key.clone(),
                    id.clone(),
                    id,
                ]
            })
            .collect();
        if lookups.is_empty() {
            return Ok(());
        }
        let replies = self.stream.client.backend.call_many(lookups).await?;
        let mut gone = Vec::new();
        for (id, reply) in page.iter().zip(replies) {
            if parse::entries(&reply?)?.is_empty() {
                gone.push(*id);
            }
        }
        self.give_up(&gone).await
    }

    /// Delivery counts of this consumer's pending entries from `first` to `last`, which hold
    /// `claimed` just-claimed ones: one XPENDING, asking for room for them plus every other
    /// entry this consumer may hold in that span (those waiting for a retry, a batch in
    /// flight). Should the answer still be cut short, the rest of the span is read the same
    /// way from where it stopped.
    async fn delivery_counts(
        &self,
        first: StreamId,
        last: StreamId,
        claimed: usize,
    ) -> Result<HashMap<StreamId, u64>> {
        let count = claimed + self.retries.len() + self.opts.batch_size;
        let mut counts = HashMap::with_capacity(count);
        let mut from = first;
        loop {
            let query = PendingQuery {
                range: IdRange::between(from, last),
                count,
                consumer: Some(self.name.clone()),
                min_idle: None,
            };
            let rows = self.stream.pending_entries(&self.group, &query).await?;
            let full = rows.len() == count;
            let next = rows.last().map(|r| r.id);
            counts.extend(rows.into_iter().map(|r| (r.id, r.deliveries)));
            match next.and_then(StreamId::successor) {
                Some(after) if full && after <= last => from = after,
                _ => return Ok(counts),
            }
        }
    }

    /// Starts handlers for buffered entries, in order, while fewer than `concurrency` run.
    /// Entries that need no handler (deleted, over `max_deliveries`, undecodable) are
    /// settled on the way. Stops once shutdown is triggered: the rest stay pending.
    async fn start_buffered<F, Fut, E>(&mut self, handler: &Arc<F>, shutdown: &Shutdown)
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        while self.running.len() < self.opts.concurrency && !shutdown.is_triggered() {
            let Some(delivery) = self.buffer.pop_front() else {
                return;
            };
            self.retries.remove(delivery.id);
            let Some(fields) = &delivery.fields else {
                // Deleted from the stream while pending: nothing left to handle.
                self.acks.push(delivery.id);
                continue;
            };
            if let Some(max) = self.opts.max_deliveries {
                if delivery.deliveries > max {
                    let error = format!(
                        "delivered {} times, more than max_deliveries ({max}), without an outcome",
                        delivery.deliveries
                    );
                    self.dead_letter(delivery, error).await;
                    continue;
                }
            }
            let value = match self.stream.codec.decode(fields) {
                Ok(value) => value,
                Err(e) => {
                    let error = with_id(e, delivery.id).to_string();
                    Metrics::add(&self.metrics.inner.decode_errors, 1);
                    self.metrics.failure(delivery.id, &error);
                    self.dead_letter(delivery, error).await;
                    continue;
                }
            };
            let entry = Entry {
                id: delivery.id,
                value,
            };
            let handling = handle(
                Arc::clone(handler),
                entry,
                self.metrics.clone(),
                self.opts.handler_timeout,
            );
            if self.opts.concurrency == 1 {
                // One at a time: the handler runs inside this task (no task to spawn, join
                // and switch to per entry); a panic is caught and fails its entry alike.
                let outcome = match AssertUnwindSafe(handling).catch_unwind().await {
                    Ok(outcome) => outcome,
                    Err(payload) => {
                        let error = panic_text(payload);
                        self.metrics.failure(delivery.id, &error);
                        Err(Failure::retry(error))
                    }
                };
                self.settle(delivery, outcome).await;
                continue;
            }
            let task = self.running.spawn(handling);
            self.handled.insert(task.id(), delivery);
        }
    }

    /// Books a finished handler: success is acknowledged (with the next XACK), failure is
    /// retried after its backoff, or dead-lettered when [`super::Fatal`] or past
    /// `max_deliveries`.
    async fn book(&mut self, done: std::result::Result<(TaskId, HandlerOutcome), JoinError>) {
        let (task, outcome) = match done {
            Ok((task, outcome)) => (task, outcome),
            Err(e) => {
                // The task never booked its outcome: the handler panicked.
                let task = e.id();
                let error = if e.is_panic() {
                    panic_text(e.into_panic())
                } else {
                    "handler cancelled".to_string()
                };
                if let Some(delivery) = self.handled.get(&task) {
                    self.metrics.failure(delivery.id, &error);
                }
                (task, Err(Failure::retry(error)))
            }
        };
        let Some(delivery) = self.handled.remove(&task) else {
            return;
        };
        self.settle(delivery, outcome).await;
    }

    /// Acts on a handler's outcome (see [`Worker::book`]).
    async fn settle(&mut self, delivery: Delivery, outcome: HandlerOutcome) {
        match outcome {
            Ok(()) => {
                if self.opts.ack_on_success {
                    self.acks.push(delivery.id);
                }
            }
            Err(failure) if failure.fatal => self.dead_letter(delivery, failure.text).await,
            Err(failure) => match self.opts.max_deliveries {
                Some(max) if delivery.deliveries >= max => {
                    self.dead_letter(delivery, failure.text).await
                }
                _ => self.schedule_retry(delivery),
            },
        }
    }

    pub(super) fn schedule_retry(&mut self, delivery: Delivery) {
        let retry = Retry {
            due: after(Instant::now(), self.opts.retry_delay(delivery.deliveries)),
            deliveries: delivery.deliveries,
            held_since: delivery.held_since,
        };
        self.retries.schedule(delivery.id, retry);
    }

    /// Acknowledges what was handled; on failure keeps the IDs for the next attempt.
    pub(super) async fn flush_acks(&mut self) -> Result<()> {
        if self.acks.is_empty() {
            return Ok(());
        }
        let request = self
            .stream
            .ack_request(&self.group, &self.acks, self.opts.delete_on_ack);
        self.stream.client.backend.call(request).await?;
        self.acks.clear();
        Ok(())
    }

    /// How many entries this consumer still holds.
    pub(super) async fn own_pending(&self) -> Result<u64> {
        let summary = self.stream.pending(&self.group).await?;
        Ok(summary
            .consumers
            .iter()
            .find(|(name, _)| *name == self.name)
            .map_or(0, |(_, n)| *n))
    }
}

/// Runs the handler on one entry, within `timeout`, and books its time and outcome in the
/// metrics as soon as it ends (live metrics stay exact).
async fn handle<T, F, Fut, E>(
    handler: Arc<F>,
    entry: Entry<T>,
    metrics: Metrics,
    timeout: Option<Duration>,
) -> HandlerOutcome
where
    F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    let (id, started) = (entry.id, Instant::now());
    let outcome = match timeout {
        Some(limit) => match tokio::time::timeout(limit, handler(entry)).await {
            Ok(result) => result.map_err(Failure::from_handler),
            Err(_) => Err(Failure::retry(format!("handler timed out after {limit:?}"))),
        },
        None => handler(entry).await.map_err(Failure::from_handler),
    };
    metrics.inner.processing.record(started.elapsed());
    match &outcome {
        Ok(()) => Metrics::add(&metrics.inner.processed, 1),
        Err(failure) => metrics.failure(id, &failure.text),
    }
    outcome
}

/// A panicked handler's message.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("handler panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> Error {
        Error::Server {
            code: code.into(),
            message: format!("{code} something"),
        }
    }

    /// A server restarting from its files answers LOADING for a while: consumers wait it
    /// out; a missing group or a wrong type ends the run.
    #[test]
    fn servers_not_ready_yet_are_waited_out() {
        for code in ["LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"] {
            assert!(is_transient(&server(code)), "{code}");
        }
        for code in ["NOGROUP", "WRONGTYPE", "ERR", "NOAUTH"] {
            assert!(!is_transient(&server(code)), "{code}");
        }
    }
}
