//! # rill
//!
//! One typed Redis Streams API over three backends: the embedded Rill engine (in this process,
//! no server, no port), `rill-server`, and real Redis or Redis Cluster. The same code runs in a
//! unit test with no Redis installed and in production against a cluster.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use rill::{Client, GroupStart};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Order { item: String, qty: u32 }
//!
//! let client = Client::embedded();
//! let orders = client.stream::<Order>("orders");
//! orders.add(&Order { item: "book".into(), qty: 1 }).await?;
//!
//! orders.ensure_group("billing", GroupStart::Beginning).await?;
//! let batch = orders.read_group("billing", "worker-1", 10, Some(Duration::from_millis(100))).await?;
//! assert_eq!(batch[0].value, Order { item: "book".into(), qty: 1 });
//! orders.ack("billing", &[batch[0].id]).await?;
//! # Ok::<(), rill::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Layout
//!
//! - [`Client`] picks a backend (`backend`): the embedded engine, or a server through the
//!   `redis` crate (reconnects, Redis Cluster; TLS with the `tls` feature).
//!   Every clone of a client shares one connection; [`Client::connection`] gives a
//!   [`Connection`] of one's own for MULTI, SELECT, HELLO and the other commands that change
//!   connection state (`Client::command` refuses those), and blocking commands wait on a
//!   session of their own (`connection`).
//! - [`Stream`]: typed operations on one stream; every reply is read by `parse`, the same for
//!   both backends. Group reads decode entry by entry into a [`Batch`]: an entry the codec
//!   cannot read is reported as [`Undecodable`] beside the others (`batch`).
//! - [`Codec`]: a trait; [`codec::Json`] (default), [`codec::MessagePack`] and [`codec::Flat`]
//!   (`flat`) are provided, and a type of one's own encodes anything else.
//! - [`consumer`]: the consumer runtime (ack, retry, reclaim, dead letter, metrics) and the
//!   [`WorkerPool`]; which newer commands the server has is learned on first use, per hash
//!   slot on a cluster (`features`, `hash_slot`).
//! - [`health`]: stream health reports against thresholds.
//! - [`testing`]: an in-process `rill-server` for code that uses any Redis client.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod backend;
mod batch;
pub mod codec;
mod command;
mod connection;
pub mod consumer;
mod error;
mod features;
mod flat;
mod hash_slot;
pub mod health;
mod parse;
mod partitioned;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

pub use batch::{Batch, Undecodable};
pub use codec::Codec;
pub use connection::Connection;
pub use consumer::{
    Consumer, ConsumerOptions, Metrics, MetricsSnapshot, RunSummary, Shutdown, WorkerPool,
};
pub use error::{ConnectionError, Error, Result};
pub use health::{HealthReport, HealthThresholds, Problem};
pub use parse::{parse_id, RawEntry};
pub use partitioned::PartitionedStream;
pub use rill_engine::{self as engine, Reply, StreamId};
pub use stream::Stream;
pub use types::*;

use backend::Backend;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How soon an embedded engine's changes reach the disk (Redis's `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every change is synced before its call returns (`always`): nothing acknowledged is
    /// ever lost, at the cost of a sync per call (the client's calls wait in turn, and the
    /// thread waits with them).
    Always,
    /// Synced once a second (`everysec`, the default): a crash loses at most about the last
    /// second.
    #[default]
    EverySecond,
    /// Written at once, synced when the operating system decides (`no`): survives the
    /// process dying, not the machine.
    OsDecides,
}

impl Durability {
    fn appendfsync(self) -> &'static str {
        match self {
            Durability::Always => "always",
            Durability::EverySecond => "everysec",
            Durability::OsDecides => "no",
        }
    }
}

/// A connection to streams: embedded, or a RESP server. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    pub(crate) backend: Backend,
}

impl Client {
    /// A fresh in-memory engine in this process: no server, no port, starts in microseconds.
    pub fn embedded() -> Client {
        Client::from_engine(rill_engine::Engine::new())
    }

    /// An embedded engine that keeps its streams, groups and pending entries in `dir` across
    /// restarts: Redis 7's append-only log (`<dir>/appendonlydir`, the same files
    /// rill-server and Redis 7 read and write), synced once a second
    /// ([`Durability::EverySecond`]). Call [`Client::close`] before the process exits.
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<Client> {
        Client::open_with(dir, Durability::EverySecond)
    }

    /// Like [`Client::open`] with a chosen [`Durability`]: with [`Durability::Always`], every
    /// call that returned has its change on disk, and a process killed at any moment loses
    /// none of them.
    pub fn open_with(dir: impl AsRef<std::path::Path>, durability: Durability) -> Result<Client> {
        let mut config = rill_engine::Config::default();
        config
            .set("appendfsync", durability.appendfsync(), true)
            .map_err(|e| Error::Storage(e.to_string()))?;
        let engine = rill_engine::Engine::open(dir, config).map_err(|e| Error::Storage(e.0))?;
        Ok(Client::from_engine(engine))
    }

    /// Writes and syncs what an embedded engine's log holds, and closes it (the engine keeps
    /// serving from memory). Nothing to do for a remote server.
    pub fn close(&self) {
        if let Backend::Embedded(e) = &self.backend {
            e.engine.close();
        }
    }

    /// A client on an existing embedded engine (share one engine between clients, or with an
    /// in-process server).
    pub fn from_engine(engine: rill_engine::Engine) -> Client {
        Client {
            backend: Backend::embedded(engine),
        }
    }

    /// Connects to a RESP server: `redis://host:port/db` (rill-server or Redis), `rediss://`
    /// with the `tls` feature. Reconnects on its own.
    pub async fn connect(url: &str) -> Result<Client> {
        Ok(Client {
            backend: Backend::connect(url).await?,
        })
    }

    /// Connects to a Redis Cluster through one or more of its nodes.
    pub async fn connect_cluster(urls: &[&str]) -> Result<Client> {
        Ok(Client {
            backend: Backend::connect_cluster(urls).await?,
        })
    }

    /// Connects to `RILL_URL` when it is set, else starts an embedded engine: how the examples
    /// run unchanged against every backend.
    pub async fn from_env() -> Result<Client> {
        match std::env::var("RILL_URL") {
            Ok(url) if !url.is_empty() => Client::connect(&url).await,
            _ => Ok(Client::embedded()),
        }
    }

    /// Whether this client runs the embedded engine.
    pub fn is_embedded(&self) -> bool {
        matches!(self.backend, Backend::Embedded(_))
    }

    /// A typed handle on the stream at `key` (JSON codec unless changed with
    /// [`Stream::with_codec`]).
    pub fn stream<T: Serialize + DeserializeOwned + 'static>(&self, key: &str) -> Stream<T> {
        Stream::new(self.clone(), key, std::sync::Arc::new(codec::Json))
    }

    /// One logical stream spread over `partitions` stream keys with hash tags, so that on
    /// Redis Cluster it spreads over the nodes (JSON codec unless changed with
    /// [`PartitionedStream::with_codec`]); see [`PartitionedStream`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rill::{Client, GroupStart};
    ///
    /// let client = Client::embedded(); // Client::connect_cluster(&[...]) in production
    /// let clicks = client.partitioned::<u32>("clicks", 4);
    /// clicks.ensure_group("stats", GroupStart::Beginning).await?;
    /// let (p, _id) = clicks.add(b"user-17", &1).await?;
    /// let (q, _id) = clicks.add(b"user-17", &2).await?;
    /// assert_eq!(p, q); // one user's clicks stay in one partition, in order
    /// assert_eq!(clicks.len().await?, 2);
    /// let read = clicks.partitions()[p].read_group("stats", "w", 10, None).await?;
    /// assert_eq!(read.iter().map(|e| e.value).collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), rill::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn partitioned<T: Serialize + DeserializeOwned + 'static>(
        &self,
        name: &str,
        partitions: usize,
    ) -> PartitionedStream<T> {
        PartitionedStream::new(self, name, partitions, std::sync::Arc::new(codec::Json))
    }

    /// A typed handle on the stream at `key` whose entries `codec` writes and reads: one of
    /// [`codec`]'s, or a codec of one's own for types without serde (Protobuf, a legacy
    /// layout).
    pub fn stream_with_codec<T: 'static>(&self, key: &str, codec: impl Codec<T>) -> Stream<T> {
        Stream::new(self.clone(), key, std::sync::Arc::new(codec))
    }

    /// Runs a command and returns the raw reply (server errors become [`Error::Server`]).
    /// Every clone of this client shares one connection, so commands that change its state
    /// (MULTI, SELECT, HELLO, AUTH, CLIENT SETNAME, SUBSCRIBE...) are refused with
    /// [`Error::Usage`]: run them on a [`Client::connection`]. Blocking commands (BLPOP,
    /// XREAD BLOCK...) wait on a session or connection of their own.
    pub async fn command(&self, args: &[&str]) -> Result<Reply> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let reply = match connection::route(&args)? {
            connection::Route::Shared => self.backend.call(args).await,
            connection::Route::Blocking => self.backend.call_blocking(args).await,
        }?;
        // The embedded engine's flat entry lists spelled out: the same shape as from a server.
        Ok(reply.into_tree())
    }

    /// A logical connection of the caller's own: transactions, SELECT, HELLO and the other
    /// commands that change connection state run there without reaching the client's other
    /// users (an embedded session; a new network connection to the server). Not on Redis
    /// Cluster ([`Error::Usage`]), where a transaction needs a connection to one node.
    pub async fn connection(&self) -> Result<Connection> {
        Ok(Connection::new(self.backend.dedicated().await?))
    }

    /// Reads several streams at once (XREAD): entries after each given ID, per stream, at most
    /// `count` each; with `block`, waits that long for the first entry on any of them.
    pub async fn read_streams<T: 'static>(
        &self,
        from: &[(&Stream<T>, StreamId)],
        count: Option<usize>,
        block: Option<std::time::Duration>,
    ) -> Result<Vec<(String, Vec<Entry<T>>)>> {
        if from.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![Bytes::from_static(b"XREAD")];
        if let Some(n) = count {
            args.push(Bytes::from_static(b"COUNT"));
            args.push(Bytes::from(n.to_string()));
        }
        if let Some(b) = block {
            args.push(Bytes::from_static(b"BLOCK"));
            args.push(Bytes::from(stream::block_ms(b).to_string()));
        }
        args.push(Bytes::from_static(b"STREAMS"));
        args.extend(from.iter().map(|(s, _)| s.key.clone()));
        args.extend(from.iter().map(|(_, id)| Bytes::from(id.to_string())));
        let reply = self.backend.call_read(args, block.is_some()).await?;
        let mut out = Vec::new();
        for (key, raw) in parse::streams(&reply)? {
            let stream = from
                .iter()
                .find(|(s, _)| s.key() == key)
                .map(|(s, _)| *s)
                .ok_or_else(|| Error::UnexpectedReply(format!("unknown stream {key}")))?;
            let mut entries = Vec::with_capacity(raw.len());
            for r in raw {
                let id = r.id;
                let fields = r.fields.unwrap_or_default();
                let value = stream
                    .codec
                    .decode(&fields)
                    .map_err(|e| stream::with_id(e, id))?;
                entries.push(Entry { id, value });
            }
            out.push((key, entries));
        }
        Ok(out)
    }
}
