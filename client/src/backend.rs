//! Where commands go: the embedded engine in this process, or a RESP server (rill-server,
//! Redis, Redis Cluster) through the `redis` crate. Both take the same argument vectors and
//! hand back the same [`Reply`] values, so everything above this module is shared.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use rill_engine::{Engine, Reply, Session};

use crate::command::Command;
use crate::error::{Error, Result};
use crate::features::{FeatureTable, Features};

/// How long a non-blocking command may take on a remote server before it fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected backend.
#[derive(Clone)]
pub(crate) enum Backend {
    Embedded(Arc<Embedded>),
    Remote(Arc<Remote>),
}

/// The engine in this process, with one session for ordinary commands and spare sessions
/// for blocking ones. All are trusted sessions (see [`Engine::trusted_session`]): the
/// process owns the engine, so `requirepass` guards only its network clients.
pub(crate) struct Embedded {
    pub(crate) engine: Engine,
    session: Mutex<Session>,
    blocking_pool: Mutex<Vec<Session>>,
    features: FeatureTable,
}

/// A RESP server. Blocking reads get connections of their own: on a shared, multiplexed
/// connection a `BLOCK` would hold up every other caller's commands.
pub(crate) struct Remote {
    shared: RemoteConn,
    target: RemoteTarget,
    blocking_pool: tokio::sync::Mutex<Vec<RemoteConn>>,
    features: FeatureTable,
}

#[derive(Clone)]
pub(crate) enum RemoteConn {
    Single(ConnectionManager),
    Dedicated(MultiplexedConnection),
    Cluster(ClusterConnection),
}

enum RemoteTarget {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

impl Backend {
    /// The embedded engine.
    pub(crate) fn embedded(engine: Engine) -> Backend {
        let session = engine.trusted_session();
        Backend::Embedded(Arc::new(Embedded {
            engine,
            session: Mutex::new(session),
            blocking_pool: Mutex::new(Vec::new()),
            features: FeatureTable::single(),
        }))
    }

    /// A single server (`redis://host:port/db`, `rediss://` with the `tls` feature).
    pub(crate) async fn connect(url: &str) -> Result<Backend> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Backend::Remote(Arc::new(Remote {
            shared: RemoteConn::Single(manager),
            target: RemoteTarget::Single(client),
            blocking_pool: tokio::sync::Mutex::new(Vec::new()),
            features: FeatureTable::single(),
        })))
    }

    /// A Redis Cluster, from one or more seed nodes.
    pub(crate) async fn connect_cluster(urls: &[&str]) -> Result<Backend> {
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .response_timeout(RESPONSE_TIMEOUT)
            .build()?;
        let conn = client.get_async_connection().await?;
        Ok(Backend::Remote(Arc::new(Remote {
            shared: RemoteConn::Cluster(conn),
            target: RemoteTarget::Cluster(Box::new(client)),
            blocking_pool: tokio::sync::Mutex::new(Vec::new()),
            features: FeatureTable::cluster(),
        })))
    }

    /// What this client learned about the newer commands of the server that answers for
    /// `key`.
    pub(crate) fn features(&self, key: &[u8]) -> &Features {
        match self {
            Backend::Embedded(e) => e.features.for_key(key),
            Backend::Remote(r) => r.features.for_key(key),
        }
    }

    /// Runs a command that never blocks.
    pub(crate) async fn call(&self, command: impl Into<Command>) -> Result<Reply> {
        let command = command.into();
        match self {
            Backend::Embedded(e) => check(command.execute_on(&mut e.session.lock())),
            Backend::Remote(r) => {
                let mut conn = r.shared.clone();
                conn.query(&command.into_args()).await
            }
        }
    }

    /// Runs several commands in one round trip; each gets its own result.
    pub(crate) async fn call_many<C: Into<Command>>(
        &self,
        commands: Vec<C>,
    ) -> Result<Vec<Result<Reply>>> {
        match self {
            Backend::Embedded(e) => {
                let commands: Vec<Command> = commands.into_iter().map(Into::into).collect();
                let replies = e
                    .session
                    .lock()
                    .execute_all(commands.iter().map(Command::request));
                Ok(replies.into_iter().map(check).collect())
            }
            Backend::Remote(r) => r.shared.clone().query_many(&texts(commands)).await,
        }
    }

    /// Runs `commands` as one MULTI/EXEC transaction, so they all happen or none does; each
    /// gets its own result. `None` where this backend does not run them so: on Redis Cluster
    /// a transaction must stay within one hash slot, which the callers' keys need not.
    pub(crate) async fn call_atomic(
        &self,
        commands: Vec<Command>,
    ) -> Result<Option<Vec<Result<Reply>>>> {
        match self {
            Backend::Embedded(e) => {
                // The session stays locked from MULTI to EXEC: no other caller's command can
                // land inside the transaction.
                let mut session = e.session.lock();
                check(session.execute(&[Bytes::from_static(b"MULTI")]))?;
                for command in &commands {
                    if let Err(err) = check(command.execute_on(&mut session)) {
                        let _ = session.execute(&[Bytes::from_static(b"DISCARD")]);
                        return Err(err);
                    }
                }
                match check(session.execute(&[Bytes::from_static(b"EXEC")]))? {
                    Reply::Array(items) => Ok(Some(items.into_iter().map(check).collect())),
                    other => Err(Error::unexpected("EXEC reply", &other)),
                }
            }
            Backend::Remote(r) => {
                let mut pipe = pipeline(&texts(commands));
                pipe.atomic();
                // MULTI, the commands and EXEC go out as one write on the shared connection,
                // so no other caller's command lands between them.
                let values: Vec<redis::Value> = match r.shared.clone() {
                    RemoteConn::Single(mut c) => pipe.query_async(&mut c).await?,
                    RemoteConn::Dedicated(mut c) => pipe.query_async(&mut c).await?,
                    RemoteConn::Cluster(_) => return Ok(None),
                };
                Ok(Some(
                    values.into_iter().map(|v| check(from_redis(v))).collect(),
                ))
            }
        }
    }

    /// Runs `before` (an acknowledgement) and then a read, in one round trip: pipelined on
    /// the shared connection, or on the read's own connection when it blocks (`before` runs
    /// at once, the read then waits). Each gets its own result. If the future is dropped,
    /// `before` may or may not have run: send it again (acknowledging is idempotent).
    pub(crate) async fn call_read_after(
        &self,
        before: Command,
        read: Vec<Bytes>,
        blocking: bool,
    ) -> Result<(Result<Reply>, Result<Reply>)> {
        match self {
            Backend::Embedded(e) => {
                let first = check(before.execute_on(&mut e.session.lock()));
                Ok((first, self.call_read(read, blocking).await))
            }
            Backend::Remote(_) if !blocking => {
                pair(self.call_many(vec![before, read.into()]).await?)
            }
            Backend::Remote(r) => {
                let mut conn = r.take_blocking().await?;
                let replies = conn.query_many(&[before.into_args(), read]).await;
                r.give_back(conn, &replies).await;
                pair(replies?)
            }
        }
    }

    /// Runs a read (XREAD, XREADGROUP): on its own connection when it carries BLOCK, on the
    /// shared one otherwise.
    pub(crate) async fn call_read(&self, args: Vec<Bytes>, blocking: bool) -> Result<Reply> {
        if blocking {
            self.call_blocking(args).await
        } else {
            self.call(args).await
        }
    }

    /// Runs a command that may block (XREAD/XREADGROUP with BLOCK, BLPOP...) on a
    /// connection or session of its own, so other calls keep flowing meanwhile. Its session
    /// is like the shared one (same database, trusted); one abandoned mid-wait is dropped,
    /// which gives its block up.
    pub(crate) async fn call_blocking(&self, args: Vec<Bytes>) -> Result<Reply> {
        match self {
            Backend::Embedded(e) => {
                let pooled = e.blocking_pool.lock().pop();
                let mut session = pooled.unwrap_or_else(|| e.engine.trusted_session());
                let reply = session.execute_async(&args).await;
                e.blocking_pool.lock().push(session);
                check(reply)
            }
            Backend::Remote(r) => {
                let mut conn = r.take_blocking().await?;
                let result = conn.query(&args).await;
                r.give_back(conn, &result).await;
                result
            }
        }
    }

    /// A logical connection of its own: a session (embedded) or a network connection
    /// (remote) that no other caller shares, for commands that change connection state.
    pub(crate) async fn dedicated(&self) -> Result<Dedicated> {
        match self {
            Backend::Embedded(e) => Ok(Dedicated::Embedded(Box::new(e.engine.trusted_session()))),
            Backend::Remote(r) => match r.target {
                // A cluster client routes each command by its key on its own: a MULTI there
                // would not make the commands after it one transaction.
                RemoteTarget::Cluster(_) => Err(Error::Usage(
                    "a connection of one's own is not available on Redis Cluster (each command \
                     goes to the node of its key, so MULTI/EXEC would not be atomic); connect \
                     to the node of the keys with Client::connect for that"
                        .into(),
                )),
                RemoteTarget::Single(ref client) => {
                    let (conn, pushes) = r.open_own(client).await?;
                    Ok(Dedicated::Remote(conn, pushes))
                }
            },
        }
    }
}

/// A connection of its own: no response timeout (a blocking command may wait for ever).
fn dedicated_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_response_timeout(None)
        .set_connection_timeout(Some(Duration::from_secs(5)))
}

/// A session or a connection that one caller owns (see [`Backend::dedicated`]); a remote
/// one over RESP3 comes with the messages the server pushes to it.
pub(crate) enum Dedicated {
    Embedded(Box<Session>),
    Remote(RemoteConn, Option<PushReceiver>),
}

/// The most bytes of pushed messages a remote connection holds unread: Redis's default hard
/// limit for a subscriber's output (`client-output-buffer-limit pubsub 32mb`). Past it, as
/// Redis disconnects such a subscriber, the messages that follow are dropped and
/// [`crate::Connection::next_push`] says so once those held are read.
const PUSH_LIMIT_BYTES: usize = 32 * 1024 * 1024;

/// What the `redis` crate hands a remote connection's pushed messages (pub/sub,
/// invalidations) to: a queue bounded by [`PUSH_LIMIT_BYTES`]. The first message past the
/// bound is replaced by an overflow marker (`None`) in the queue, which wakes a reader
/// waiting on it; the messages after it are dropped.
struct PushSender {
    queue: tokio::sync::mpsc::UnboundedSender<Option<(redis::PushInfo, usize)>>,
    held: Arc<AtomicUsize>,
    overflowed: AtomicBool,
}

impl redis::aio::AsyncPushSender for PushSender {
    fn send(&self, info: redis::PushInfo) -> std::result::Result<(), redis::aio::SendError> {
        let size = push_size(&info);
        let fits = self.held.load(Ordering::Relaxed) + size <= PUSH_LIMIT_BYTES;
        if info.kind == redis::PushKind::Disconnection
            || (fits && !self.overflowed.load(Ordering::Relaxed))
        {
            self.held.fetch_add(size, Ordering::Relaxed);
            return self
                .queue
                .send(Some((info, size)))
                .map_err(|_| redis::aio::SendError);
        }
        // Past the bound: the first message dropped leaves the marker, the rest nothing.
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            let _ = self.queue.send(None);
        }
        Err(redis::aio::SendError)
    }
}

/// About how many bytes a pushed message holds.
fn push_size(info: &redis::PushInfo) -> usize {
    let value = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => b.len(),
        _ => 16,
    };
    32 + info.data.iter().map(value).sum::<usize>()
}

/// Where a remote connection's pushed messages arrive, in order.
pub(crate) struct PushReceiver {
    queue: tokio::sync::mpsc::UnboundedReceiver<Option<(redis::PushInfo, usize)>>,
    held: Arc<AtomicUsize>,
    /// The overflow marker was read: every later call reports it.
    overflowed: bool,
}

impl PushReceiver {
    fn new() -> (PushSender, PushReceiver) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let held = Arc::new(AtomicUsize::new(0));
        let sender = PushSender {
            queue: tx,
            held: held.clone(),
            overflowed: AtomicBool::new(false),
        };
        let receiver = PushReceiver {
            queue: rx,
            held,
            overflowed: false,
        };
        (sender, receiver)
    }

    /// The next message; `Err(())` once those held before an overflow are read (messages
    /// were dropped after them); `Ok(None)` when the connection is gone.
    pub(crate) async fn recv(&mut self) -> std::result::Result<Option<redis::PushInfo>, ()> {
        if self.overflowed {
            return Err(());
        }
        match self.queue.recv().await {
            Some(Some((info, size))) => {
                self.held.fetch_sub(size, Ordering::Relaxed);
                Ok(Some(info))
            }
            Some(None) => {
                self.overflowed = true;
                Err(())
            }
            None => Ok(None),
        }
    }
}

impl Dedicated {
    /// Runs any command, waiting as long as a blocking one takes.
    pub(crate) async fn call(&mut self, args: &[Bytes]) -> Result<Reply> {
        match self {
            Dedicated::Embedded(session) => check(session.execute_async(args).await),
            Dedicated::Remote(conn, _) => conn.query(args).await,
        }
    }
}

impl Remote {
    /// A connection of one caller's own; over RESP3 the messages the server pushes are kept
    /// for it (RESP2 has no way to tell them from replies on a multiplexed connection).
    async fn open_own(&self, client: &redis::Client) -> Result<(RemoteConn, Option<PushReceiver>)> {
        let resp3 = client.get_connection_info().redis_settings().protocol()
            == redis::ProtocolVersion::RESP3;
        if !resp3 {
            return Ok((self.open_dedicated().await?, None));
        }
        let (tx, rx) = PushReceiver::new();
        let config = dedicated_config().set_push_sender(tx);
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok((RemoteConn::Dedicated(conn), Some(rx)))
    }

    async fn take_blocking(&self) -> Result<RemoteConn> {
        if let Some(conn) = self.blocking_pool.lock().await.pop() {
            return Ok(conn);
        }
        self.open_dedicated().await
    }

    /// Returns a blocking connection to the pool, unless `outcome` says it broke.
    async fn give_back<T>(&self, conn: RemoteConn, outcome: &Result<T>) {
        if !matches!(outcome, Err(Error::Connection(_))) {
            self.blocking_pool.lock().await.push(conn);
        }
    }

    /// A new connection with no response timeout (a blocking command may wait for ever).
    async fn open_dedicated(&self) -> Result<RemoteConn> {
        match &self.target {
            RemoteTarget::Single(client) => {
                let conn = client
                    .get_multiplexed_async_connection_with_config(&dedicated_config())
                    .await?;
                Ok(RemoteConn::Dedicated(conn))
            }
            RemoteTarget::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_response_timeout(Duration::from_secs(24 * 3600));
                let conn = client.get_async_connection_with_config(config).await?;
                Ok(RemoteConn::Cluster(conn))
            }
        }
    }
}

impl RemoteConn {
    /// Several commands in one pipeline on this connection; each gets its own result.
    async fn query_many(&mut self, commands: &[Vec<Bytes>]) -> Result<Vec<Result<Reply>>> {
        let mut pipe = pipeline(commands);
        pipe.ignore_errors();
        let values: Vec<redis::Value> = match self {
            RemoteConn::Single(c) => pipe.query_async(c).await?,
            RemoteConn::Dedicated(c) => pipe.query_async(c).await?,
            RemoteConn::Cluster(c) => pipe.query_async(c).await?,
        };
        Ok(values.into_iter().map(|v| check(from_redis(v))).collect())
    }

    async fn query(&mut self, args: &[Bytes]) -> Result<Reply> {
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(a.as_ref());
        }
        let value: redis::Value = match self {
            RemoteConn::Single(c) => cmd.query_async(c).await?,
            RemoteConn::Dedicated(c) => cmd.query_async(c).await?,
            RemoteConn::Cluster(c) => cmd.query_async(c).await?,
        };
        check(from_redis(value))
    }
}

/// Commands as text, for a server.
fn texts<C: Into<Command>>(commands: Vec<C>) -> Vec<Vec<Bytes>> {
    commands.into_iter().map(|c| c.into().into_args()).collect()
}

/// The two results of a pipeline of two commands.
fn pair(replies: Vec<Result<Reply>>) -> Result<(Result<Reply>, Result<Reply>)> {
    let mut replies = replies.into_iter();
    match (replies.next(), replies.next()) {
        (Some(first), Some(second)) => Ok((first, second)),
        _ => Err(Error::UnexpectedReply(
            "a pipeline of two answered less".into(),
        )),
    }
}

/// `commands` as one pipeline.
fn pipeline(commands: &[Vec<Bytes>]) -> redis::Pipeline {
    let mut pipe = redis::Pipeline::new();
    for args in commands {
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(a.as_ref());
        }
        pipe.add_command(cmd);
    }
    pipe
}

/// A server error reply becomes an [`Error::Server`].
fn check(reply: Reply) -> Result<Reply> {
    match reply {
        Reply::Error(text) => Err(Error::server(&text)),
        other => Ok(other),
    }
}

/// The `redis` crate's value as the engine's reply, so replies parse the same either way.
pub(crate) fn from_redis(value: redis::Value) -> Reply {
    use redis::Value as V;
    match value {
        V::Nil => Reply::Null,
        V::Int(n) => Reply::Integer(n),
        V::BulkString(b) => Reply::Bulk(Bytes::from(b)),
        V::Array(items) => Reply::Array(items.into_iter().map(from_redis).collect()),
        V::SimpleString(s) => Reply::Simple(s),
        V::Okay => Reply::ok(),
        V::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (from_redis(k), from_redis(v)))
                .collect(),
        ),
        V::Attribute { data, .. } => from_redis(*data),
        V::Set(items) => Reply::Set(items.into_iter().map(from_redis).collect()),
        V::Double(d) => Reply::Double(d),
        V::Boolean(b) => Reply::Bool(b),
        V::VerbatimString { text, .. } => Reply::Verbatim(Bytes::from(text)),
        V::BigNumber(n) => Reply::Bulk(Bytes::from(format!("{n:?}"))),
        V::Push { data, .. } => Reply::Array(data.into_iter().map(from_redis).collect()),
        V::ServerError(e) => {
            let text = match e.details() {
                Some(d) => format!("{} {d}", e.code()),
                None => e.code().to_string(),
            };
            Reply::Error(text)
        }
        _ => Reply::Null,
    }
}
