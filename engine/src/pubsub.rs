//! Publish/subscribe: who listens to which channel, pattern or shard channel, and the
//! mailbox each client's messages wait in until its connection writes them.
//!
//! PUBLISH runs under the engine lock like every command: it puts the message (as a RESP3
//! push, which a RESP2 client receives as an array) in each subscriber's mailbox and wakes its
//! connection. A subscriber that lets more than the `pubsub` class's hard output limit pile up,
//! or stays above its soft limit for longer than the soft limit's seconds, is disconnected,
//! as Redis disconnects it; the messages waiting for it are dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::args::glob_match;
use crate::config::OutputLimit;
use crate::reply::Reply;

/// Where one client's messages wait for its connection.
#[derive(Default)]
pub struct Mailbox {
    inner: Mutex<Inbox>,
    /// Whether messages wait: read without the lock after every command.
    waiting: AtomicBool,
}

#[derive(Default)]
struct Inbox {
    messages: Vec<Reply>,
    bytes: usize,
    waker: Option<Waker>,
    /// Set when the client was disconnected for letting too much pile up: a reader with no
    /// connection to lose (an embedded session) learns it here.
    closed: bool,
    /// When (Unix ms) what waits last went above the soft limit and has stayed above since.
    over_soft_since: Option<u64>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}

impl Mailbox {
    /// Leaves `message` (about `bytes` long once encoded) and wakes the connection; whether
    /// what now waits is past `limit` at `now_ms`: above its hard bytes, or above its soft
    /// bytes for longer than its seconds (checked as messages come, as Redis checks a
    /// client's output buffer as replies are added to it).
    fn deliver(&self, message: Reply, bytes: usize, limit: &OutputLimit, now_ms: u64) -> bool {
        let (over, waker) = {
            let mut inbox = self.inner.lock();
            inbox.messages.push(message);
            inbox.bytes += bytes;
            self.waiting.store(true, Ordering::Release);
            let waiting = inbox.bytes as u64;
            let over_hard = limit.hard > 0 && waiting > limit.hard;
            let over_soft = if limit.soft > 0 && waiting > limit.soft {
                let since = *inbox.over_soft_since.get_or_insert(now_ms);
                now_ms.saturating_sub(since) > limit.soft_seconds.saturating_mul(1000)
            } else {
                inbox.over_soft_since = None;
                false
            };
            (over_hard || over_soft, inbox.waker.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        over
    }

    /// Takes every waiting message, oldest first.
    pub fn take(&self) -> Vec<Reply> {
        let mut inbox = self.inner.lock();
        inbox.bytes = 0;
        inbox.over_soft_since = None;
        self.waiting.store(false, Ordering::Release);
        std::mem::take(&mut inbox.messages)
    }

    /// Whether messages wait; if not, the task is woken when one comes (or when the mailbox
    /// is closed).
    pub fn poll_waiting(&self, cx: &mut Context<'_>) -> bool {
        let mut inbox = self.inner.lock();
        if inbox.messages.is_empty() {
            inbox.waker = Some(cx.waker().clone());
            false
        } else {
            true
        }
    }

    /// Whether the client was disconnected for its pile of unread messages (see
    /// [`PubSub::disconnect`]); its subscriptions are gone.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }

    /// Drops what waits, marks the mailbox closed and wakes whoever waits on it.
    fn close(&self) {
        self.clear();
        let waker = {
            let mut inbox = self.inner.lock();
            inbox.closed = true;
            inbox.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn reopen(&self) {
        self.inner.lock().closed = false;
    }

    /// Whether messages wait (no waker left, no lock taken).
    pub fn has_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    fn clear(&self) {
        let mut inbox = self.inner.lock();
        inbox.messages = Vec::new();
        inbox.bytes = 0;
        inbox.over_soft_since = None;
        self.waiting.store(false, Ordering::Release);
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE: one channel.
    Channel,
    /// PSUBSCRIBE: every channel matching a glob pattern.
    Pattern,
    /// SSUBSCRIBE: one shard channel (SPUBLISH's namespace).
    Shard,
}

impl Kind {
    /// The word of the confirmation (`subscribe`, `punsubscribe`...).
    pub fn verb(self, subscribing: bool) -> &'static str {
        match (self, subscribing) {
            (Kind::Channel, true) => "subscribe",
            (Kind::Channel, false) => "unsubscribe",
            (Kind::Pattern, true) => "psubscribe",
            (Kind::Pattern, false) => "punsubscribe",
            (Kind::Shard, true) => "ssubscribe",
            (Kind::Shard, false) => "sunsubscribe",
        }
    }
}

/// What one client listens to.
#[derive(Debug, Default)]
struct Listener {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard: BTreeSet<Bytes>,
    mailbox: Option<Arc<Mailbox>>,
}

impl Listener {
    fn set(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty()
    }
}

/// Subscribers of channels, patterns and shard channels, by client.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: Index,
    patterns: Index,
    shard: Index,
    listeners: HashMap<u64, Listener>,
}

/// Whom a message reached and who must be disconnected for letting too much pile up.
#[derive(Debug, Default)]
pub struct Delivery {
    /// How many subscriptions received it (PUBLISH's answer).
    pub receivers: i64,
    /// Clients past the output limit (hard, or soft for too long).
    pub overflowing: Vec<u64>,
}

impl PubSub {
    fn index(&mut self, kind: Kind) -> &mut Index {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscribes `client`; whether it was new. `mailbox` is where its messages go.
    pub fn subscribe(
        &mut self,
        client: u64,
        mailbox: &Arc<Mailbox>,
        kind: Kind,
        name: &Bytes,
    ) -> bool {
        let listener = self.listeners.entry(client).or_default();
        if listener.mailbox.is_none() {
            // A client subscribing again after a disconnection for overflow (an embedded
            // session lives on) gets its mailbox back.
            mailbox.reopen();
            listener.mailbox = Some(mailbox.clone());
        }
        if !listener.set(kind).insert(name.clone()) {
            return false;
        }
        add(self.index(kind), name, client);
        true
    }

    /// Unsubscribes `client`; whether it was subscribed.
    pub fn unsubscribe(&mut self, client: u64, kind: Kind, name: &[u8]) -> bool {
        let Some(listener) = self.listeners.get_mut(&client) else {
            return false;
        };
        if !listener.set(kind).remove(name) {
            return false;
        }
        if listener.is_empty() {
            self.listeners.remove(&client);
        }
        drop_one(self.index(kind), name, client);
        true
    }

    /// What `client` listens to of `kind`, in name order.
    pub fn subscriptions(&self, client: u64, kind: Kind) -> Vec<Bytes> {
        let Some(listener) = self.listeners.get(&client) else {
            return Vec::new();
        };
        let set = match kind {
            Kind::Channel => &listener.channels,
            Kind::Pattern => &listener.patterns,
            Kind::Shard => &listener.shard,
        };
        set.iter().cloned().collect()
    }

    /// (channels, patterns, shard channels) `client` listens to.
    pub fn counts(&self, client: u64) -> (usize, usize, usize) {
        self.listeners.get(&client).map_or((0, 0, 0), |l| {
            (l.channels.len(), l.patterns.len(), l.shard.len())
        })
    }

    /// Whether `client` listens to anything (it is in subscriber mode under RESP2). Checked
    /// before every command: without any subscriber it costs one comparison.
    pub fn is_subscriber(&self, client: u64) -> bool {
        !self.listeners.is_empty() && self.listeners.contains_key(&client)
    }

    /// Forgets a subscriber that let more than the hard output limit pile up, and closes its
    /// mailbox so that a reader waiting on it learns why nothing more comes.
    pub fn disconnect(&mut self, client: u64) {
        if let Some(mailbox) = self.listeners.get(&client).and_then(|l| l.mailbox.clone()) {
            mailbox.close();
        }
        self.remove_client(client);
    }

    /// Forgets a client that left.
    pub fn remove_client(&mut self, client: u64) {
        let Some(listener) = self.listeners.remove(&client) else {
            return;
        };
        if let Some(m) = &listener.mailbox {
            m.clear();
        }
        for name in &listener.channels {
            drop_one(&mut self.channels, name, client);
        }
        for name in &listener.patterns {
            drop_one(&mut self.patterns, name, client);
        }
        for name in &listener.shard {
            drop_one(&mut self.shard, name, client);
        }
    }

    /// Sends `payload` on `channel` (a shard channel when `shard`) to its subscribers and to
    /// the subscribers of matching patterns; clients whose mailbox is now past `limit` (the
    /// `pubsub` class of `client-output-buffer-limit`) at `now_ms` are listed to be
    /// disconnected.
    pub fn publish(
        &self,
        channel: &Bytes,
        payload: &Bytes,
        shard: bool,
        limit: &OutputLimit,
        now_ms: u64,
    ) -> Delivery {
        let mut delivery = Delivery::default();
        let bytes = 40 + channel.len() + payload.len();
        let send = |client: u64, message: Reply, delivery: &mut Delivery| {
            let Some(mailbox) = self.listeners.get(&client).and_then(|l| l.mailbox.as_ref()) else {
                return;
            };
            delivery.receivers += 1;
            if mailbox.deliver(message, bytes, limit, now_ms) {
                delivery.overflowing.push(client);
            }
        };
        let (direct, verb) = if shard {
            (self.shard.get(channel), "smessage")
        } else {
            (self.channels.get(channel), "message")
        };
        for &client in direct.into_iter().flatten() {
            let message = Reply::Push(vec![
                Reply::text(verb),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(payload.clone()),
            ]);
            send(client, message, &mut delivery);
        }
        if !shard {
            for (pattern, clients) in &self.patterns {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                for &client in clients {
                    let message = Reply::Push(vec![
                        Reply::text("pmessage"),
                        Reply::Bulk(pattern.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(payload.clone()),
                    ]);
                    send(client, message, &mut delivery);
                }
            }
        }
        delivery
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern`.
    pub fn active(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let index = if shard { &self.shard } else { &self.channels };
        index
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of `channel` (or of the shard channel).
    pub fn subscriber_count(&self, shard: bool, channel: &[u8]) -> usize {
        let index = if shard { &self.shard } else { &self.channels };
        index.get(channel).map_or(0, BTreeSet::len)
    }

    /// (channels, patterns, shard channels) with subscribers, and clients subscribed to
    /// anything: INFO's counts.
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        (
            self.channels.len(),
            self.patterns.len(),
            self.shard.len(),
            self.listeners.len(),
        )
    }
}

/// A name → subscribers index, in name order (PUBSUB CHANNELS lists names in that order).
type Index = BTreeMap<Bytes, BTreeSet<u64>>;

fn add(index: &mut Index, name: &Bytes, client: u64) {
    index.entry(name.clone()).or_default().insert(client);
}

fn drop_one(index: &mut Index, name: &[u8], client: u64) {
    if let Some(set) = index.get_mut(name) {
        set.remove(&client);
        if set.is_empty() {
            index.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(hard: u64, soft: u64, soft_seconds: u64) -> OutputLimit {
        OutputLimit {
            hard,
            soft,
            soft_seconds,
        }
    }

    #[test]
    fn messages_reach_channel_and_pattern_subscribers() {
        let mut ps = PubSub::default();
        let (a, b) = (Arc::new(Mailbox::default()), Arc::new(Mailbox::default()));
        assert!(ps.subscribe(1, &a, Kind::Channel, &Bytes::from("news")));
        assert!(!ps.subscribe(1, &a, Kind::Channel, &Bytes::from("news")));
        assert!(ps.subscribe(2, &b, Kind::Pattern, &Bytes::from("n*")));
        let none = limit(0, 0, 0);
        let d = ps.publish(&Bytes::from("news"), &Bytes::from("hi"), false, &none, 0);
        assert_eq!(d.receivers, 2);
        assert_eq!(a.take().len(), 1);
        assert_eq!(b.take().len(), 1);
        let shard = ps.publish(&Bytes::from("news"), &Bytes::from("x"), true, &none, 0);
        assert_eq!(shard.receivers, 0);
        ps.remove_client(1);
        assert_eq!(ps.totals(), (0, 1, 0, 1));
        let d = ps.publish(
            &Bytes::from("nx"),
            &Bytes::from("big"),
            false,
            &limit(10, 0, 0),
            0,
        );
        assert_eq!(d.overflowing, vec![2]);
    }

    /// Above the soft limit for longer than its seconds, counted from when the pile first
    /// went above it; reading in between starts the count again.
    #[test]
    fn a_subscriber_above_the_soft_limit_for_too_long_overflows() {
        let mut ps = PubSub::default();
        let mailbox = Arc::new(Mailbox::default());
        ps.subscribe(1, &mailbox, Kind::Channel, &Bytes::from("c"));
        let soft = limit(0, 100, 2);
        let payload = Bytes::from(vec![b'x'; 20]); // 61 bytes a message, as counted
        let send = |at: u64| {
            ps.publish(&Bytes::from("c"), &payload, false, &soft, at)
                .overflowing
        };
        assert!(send(1_000).is_empty(), "below the soft limit");
        assert!(send(1_500).is_empty(), "above it since 1.5 s");
        assert!(send(3_500).is_empty(), "above it for 2 s: not longer");
        assert_eq!(send(3_501), vec![1], "above it for longer than 2 s");
        mailbox.take();
        assert!(send(10_000).is_empty(), "read meanwhile");
        assert!(send(11_000).is_empty(), "above it since 11 s");
        assert!(send(13_000).is_empty());
        assert_eq!(send(13_001), vec![1]);
    }
}
