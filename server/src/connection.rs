//! One client connection: read, run complete requests in bounded batches, write their replies
//! (pipelining) within the client's output-buffer limits. Protocol errors are answered, then
//! the connection closes. A blocking command parks the connection until its reply; CLIENT
//! PAUSE holds a command until the pause ends; requests that arrive meanwhile wait their turn,
//! as in Redis.
//!
//! Memory a client can make the server hold is bounded: unparsed input by
//! `client-query-buffer-limit`, pending output by one batch ([`BATCH_OUTPUT`] plus the reply
//! that crossed it) and `client-output-buffer-limit`. An idle connection holds no buffers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rill_engine::blocking::BlockedReply;
use rill_engine::config::OutputLimit;
use rill_engine::rdb::transfer::Transfer;
use rill_engine::{Close, Engine, PipelineClock, Reply, Session};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::protocol::{Limits, RequestParser};

/// A batch stops running commands once this much output waits, and writes it before running
/// more. A client that pipelines large reads and never reads its replies is then held back
/// by its own socket (the kernel's buffers fill, the write waits) instead of making the
/// server buffer without limit; other clients are served meanwhile. Redis writes at most as
/// much per event (`NET_MAX_WRITES_PER_EVENT`).
pub const BATCH_OUTPUT: usize = 64 * 1024;

/// Most bytes taken per socket read (Redis's `PROTO_IOBUF_LEN`); a big argument gets room for
/// all of itself from the request parser.
const READ_CHUNK: usize = 16 * 1024;

/// The most arguments' room a connection keeps between requests: a vector grown past it by
/// a huge request (an XADD of thousands of fields) is freed after it, so an idle connection
/// does not hold what its largest request once needed.
const ARGS_KEPT: usize = 256;

/// What a run over the buffered requests ended with.
enum Batch {
    /// Every complete request ran; read more.
    NeedInput,
    /// [`BATCH_OUTPUT`] bytes of replies wait: write them, then run more.
    Full,
    /// Write what is pending, then close.
    Close,
    /// A command blocked: write what is pending, then wait for its reply.
    Blocked(BlockedReply),
    /// CLIENT PAUSE holds the next command: write what is pending, wait, try again.
    Paused,
    /// SYNC / PSYNC: write what is pending, send the snapshot, then close.
    Transfer(Box<Transfer>),
}

/// What waiting for the client brought.
enum Input {
    /// Bytes arrived.
    Data,
    /// Pub/sub messages wait to be written.
    Messages,
    /// The client left, was killed, or the server is stopping.
    Gone,
}

/// Why the connection ends.
enum End {
    /// The client left, was killed, or the server is stopping.
    Gone,
}

/// One client's connection and the state kept between its reads.
struct Connection {
    engine: Engine,
    socket: TcpStream,
    session: Session,
    parser: RequestParser,
    /// Bytes read and not yet parsed. Released while the client is idle.
    input: BytesMut,
    /// Encoded replies not yet written. Released once written.
    output: Vec<u8>,
    /// The request being run: one vector for every request of the connection (cleared, not
    /// freed, between them; see [`ARGS_KEPT`]).
    args: Vec<Bytes>,
    /// `args` is a parsed command that CLIENT PAUSE held back; it runs before anything read
    /// after it.
    held: bool,
    /// Since when the client has been behind by more than the soft output-buffer limit: set
    /// when pending output passes it, cleared only when the client has caught up (every
    /// reply written, no request left to run). Rill runs a pipeline in bounded batches, so
    /// a client that stops reading holds back its own requests rather than growing a
    /// buffer; it is still behind, as far as the limit is concerned, until it catches up.
    soft_since: Option<Instant>,
    /// Bytes read and written since traffic was last counted for INFO.
    traffic: (u64, u64),
    /// Rung when the client is killed (CLIENT KILL, timeout) or the server stops (which
    /// tells every client through the same switch).
    killed: Arc<Doorbell>,
    /// The server is stopping: finish the replies being written, then end.
    closing: bool,
    /// Where this client's pub/sub messages arrive.
    mailbox: Arc<rill_engine::pubsub::Mailbox>,
}

/// Serves one client until it leaves, is killed, breaks the protocol, overruns a limit, or
/// the server stops. The set-up runs before the returned future exists, so that the future
/// (one per client, held as long as the client stays) carries only the connection and its
/// loop, not the set-up's locals as well.
pub fn serve(engine: Engine, socket: TcpStream) -> impl std::future::Future<Output = ()> {
    let _ = socket.set_nodelay(true);
    let peer = socket
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let local = socket
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut session = engine.session();
    let killed = Arc::new(Doorbell::default());
    let bell = killed.clone();
    session.attach(peer.clone(), local, Arc::new(move || bell.ring()));
    tracing::debug!(%peer, id = session.id(), "client connected");
    let mailbox = session.mailbox();
    let mut connection = Connection {
        engine,
        socket,
        session,
        parser: RequestParser::default(),
        input: BytesMut::new(),
        output: Vec::new(),
        args: Vec::new(),
        held: false,
        soft_since: None,
        traffic: (0, 0),
        killed,
        closing: false,
        mailbox,
    };
    async move {
        let End::Gone = connection.run().await;
        connection.count_traffic();
        tracing::debug!(id = connection.session.id(), "client gone");
    }
}

impl Connection {
    async fn run(&mut self) -> End {
        let mut need_input = true;
        loop {
            if self.closing {
                return End::Gone;
            }
            if need_input {
                match self.read().await {
                    Input::Gone => return End::Gone,
                    Input::Messages => {
                        self.deliver_messages();
                        let limits = self.count_traffic();
                        let buffered = self.input.len();
                        if !self.flush(&limits).await {
                            return End::Gone;
                        }
                        // A slow flush reads what the client sends meanwhile.
                        if self.input.len() == buffered {
                            continue;
                        }
                    }
                    Input::Data => {}
                }
            }
            let limits = self.count_traffic();
            if self.input.len() as u64 > limits.query_buffer_limit {
                tracing::warn!(
                    id = self.session.id(),
                    "closing client that exceeded the query buffer limit"
                );
                return End::Gone;
            }
            let mut ran = 0;
            let batch = self.run_batch(limits.max_bulk_len, &mut ran);
            let buffered = self.input.len();
            if ran > 1 {
                // A pipelined batch's replies wait for the other connections ready now, as
                // Redis writes a round's replies only once every ready client has run: the
                // round's log write (or sync) then covers them all, and the clients get their
                // replies together and send their next batches together, instead of each
                // side waking once per connection (50 clients pipelining 32 XADDs: 7% more a
                // second, 8% less server CPU a command). A lone command's reply leaves at
                // once: waiting would cost it one more poll of the event loop.
                tokio::task::yield_now().await;
                // A CLIENT KILL that ran meanwhile drops the replies, as Redis drops a killed
                // client's pending output; a stopping server still lets them go.
                if self.killed.has_rung() && !self.engine.is_shutting_down() {
                    return End::Gone;
                }
            }
            if let Some(durability) = self.session.take_durability() {
                // The batch's replies leave once what they show is in the log as the
                // policy promises (appendfsync always: on disk; one sync for many clients).
                durability.wait().await;
            }
            if !self.flush(&limits).await {
                return End::Gone;
            }
            need_input = false;
            match batch {
                Batch::NeedInput => {
                    self.soft_since = None;
                    // Unless the flush read more while the client was slow to take replies.
                    need_input = self.input.len() == buffered;
                }
                Batch::Full => tokio::task::yield_now().await,
                Batch::Close => return End::Gone,
                Batch::Blocked(reply) => {
                    // Rare, so its state is boxed: an idle connection's task stays small.
                    let limit = limits.query_buffer_limit;
                    let Some(reply) = Box::pin(self.wait_blocked(reply, limit)).await else {
                        return End::Gone;
                    };
                    self.session.note_served_reply();
                    self.encode(&reply);
                }
                Batch::Paused => {
                    if !Box::pin(self.wait_pause()).await {
                        return End::Gone;
                    }
                }
                Batch::Transfer(transfer) => {
                    Box::pin(self.send_transfer(transfer)).await;
                    return End::Gone;
                }
            }
        }
    }

    /// Waits for a blocked command's reply; `None` when the client left, was killed, or the
    /// server is stopping. The engine's timer answers a timeout; a served read's reply wins.
    async fn wait_blocked(&mut self, reply: BlockedReply, input_limit: u64) -> Option<Reply> {
        tokio::select! {
            biased;
            r = reply => Some(r),
            _ = self.killed.rung() => None,
            _ = wait_for_departure(&self.socket, &mut self.input, input_limit) => None,
        }
    }

    /// Waits for CLIENT PAUSE to end (its time, or UNPAUSE); false when the connection must
    /// end. A pause that was extended meanwhile holds the command again.
    async fn wait_pause(&mut self) -> bool {
        let (unpaused, until) = self.engine.pause_wait();
        let remaining = until
            .map(|at| at.saturating_sub(rill_engine::now_ms()))
            .unwrap_or(0);
        tokio::select! {
            biased;
            _ = self.killed.rung() => false,
            _ = unpaused => true,
            _ = tokio::time::sleep(Duration::from_millis(remaining)) => true,
        }
    }

    /// Sends a snapshot (SYNC / PSYNC): a thread encodes it a chunk at a time while this
    /// task writes the chunks, so a large dataset is never held whole and other clients are
    /// served meanwhile. Ends early when the client leaves or the server stops.
    async fn send_transfer(&mut self, transfer: Box<Transfer>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let encoder = tokio::task::spawn_blocking(move || {
            transfer.write(&mut |chunk| {
                tx.blocking_send(chunk.to_vec())
                    .map_err(|_| std::io::Error::other("the client is gone"))
            })
        });
        let killed = self.killed.clone();
        let mut sent = 0u64;
        let complete = loop {
            let chunk = tokio::select! {
                biased;
                _ = killed.rung() => break false,
                chunk = rx.recv() => chunk,
            };
            let Some(chunk) = chunk else {
                break true;
            };
            if self.socket.write_all(&chunk).await.is_err() {
                break false;
            }
            sent += chunk.len() as u64;
        };
        self.traffic.1 += sent;
        drop(rx);
        let id = self.session.id();
        match encoder.await {
            Ok(Ok(())) if complete => {
                tracing::info!(id, bytes = sent, "snapshot sent to the client (SYNC)")
            }
            Ok(Err(e)) => tracing::warn!(id, "snapshot transfer stopped: {e}"),
            _ => tracing::warn!(id, "snapshot transfer stopped: the client left"),
        }
    }

    /// Waits for bytes from the client and appends them to `input`, or for pub/sub messages
    /// to write. Between requests the connection holds no buffer: room is made only when
    /// bytes are there to read.
    async fn read(&mut self) -> Input {
        if self.input.is_empty() {
            self.input = BytesMut::new();
        }
        loop {
            // Polled by hand rather than through `select!` over `readable()` and the bell:
            // no sub-future is stored, so the task of an idle connection stays small.
            let ready = std::future::poll_fn(|cx| {
                if self.killed.poll_rung(cx) {
                    return Poll::Ready(Input::Gone);
                }
                if self.mailbox.poll_waiting(cx) {
                    return Poll::Ready(Input::Messages);
                }
                self.socket.poll_read_ready(cx).map(|r| {
                    if r.is_ok() {
                        Input::Data
                    } else {
                        Input::Gone
                    }
                })
            })
            .await;
            if !matches!(ready, Input::Data) {
                return ready;
            }
            match read_available(&self.socket, &mut self.input) {
                Ok(0) => return Input::Gone,
                Ok(n) => {
                    self.traffic.0 += n as u64;
                    return Input::Data;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return Input::Gone,
            }
        }
    }

    /// Runs complete requests from `input` until none is left, a batch's worth of output
    /// waits, or a command blocks, is held by a pause, or closes the connection; counts the
    /// commands that ran in `ran` (more than one: a pipelining client, see `run`).
    fn run_batch(&mut self, max_bulk_len: u64, ran: &mut usize) -> Batch {
        // The batch's commands run back to back: each one's end starts the next (the time
        // spent reading the batch, or waiting, is no command's).
        let mut clock = PipelineClock::Fresh;
        loop {
            if self.output.len() >= BATCH_OUTPUT {
                return Batch::Full;
            }
            if !std::mem::take(&mut self.held) {
                let limits = Limits {
                    max_bulk_len,
                    authenticated: self.session.is_authenticated(),
                };
                match self
                    .parser
                    .parse_into(&mut self.input, limits, &mut self.args)
                {
                    Ok(false) => return Batch::NeedInput,
                    Ok(true) if self.args.is_empty() => continue,
                    Ok(true) => {}
                    Err(e) => {
                        self.encode(&Reply::Error(e.0));
                        self.input.clear();
                        return Batch::Close;
                    }
                }
            }
            let Some(reply) = self.session.try_execute_next(&self.args, &mut clock) else {
                self.held = true;
                return Batch::Paused;
            };
            *ran += 1;
            // The arguments go now (their bytes may be the input buffer's); a vector grown
            // by a huge request is not kept for the connection's life.
            self.args.clear();
            if self.args.capacity() > ARGS_KEPT {
                self.args = Vec::new();
            }
            if let Some(transfer) = self.session.take_transfer() {
                // The snapshot is the answer: the command's reply is not sent.
                return Batch::Transfer(transfer);
            }
            if let Some(blocked) = self.session.take_blocked() {
                self.deliver_messages();
                return Batch::Blocked(blocked);
            }
            let close = self.session.close_requested();
            if close != Close::Now {
                self.encode(&reply);
            }
            // Messages the command itself caused (a PUBLISH to a channel this client listens
            // to, the keyspace event of its own write) follow its reply, as since Redis 7.2
            // (7.0 sent some before it: inside MULTI, a RESP2 client then took a message for
            // EXEC's reply).
            if self.deliver_messages() {
                clock = PipelineClock::Fresh;
            }
            if close != Close::No {
                return Batch::Close;
            }
        }
    }

    /// Encodes the pub/sub messages waiting for this client; whether there were any.
    fn deliver_messages(&mut self) -> bool {
        if !self.mailbox.has_waiting() {
            return false;
        }
        for message in self.mailbox.take() {
            self.encode(&message);
        }
        true
    }

    fn encode(&mut self, reply: &Reply) {
        if self.output.capacity() == 0 {
            // Most replies are short; the buffer grows for the others.
            self.output.reserve(256);
        }
        reply.encode(self.session.protocol(), &mut self.output);
    }

    /// Writes the pending replies. False when the client must be closed: the socket failed,
    /// the client was killed, or it broke `client-output-buffer-limit`: pending output past
    /// the hard limit closes it at once; past the soft limit, it is closed if it has not
    /// caught up within the soft seconds (see `soft_since`).
    async fn flush(&mut self, limits: &rill_engine::ConnectionLimits) -> bool {
        let limit = limits.output;
        if self.output.is_empty() {
            return true;
        }
        if limit.hard > 0 && self.output.len() as u64 > limit.hard {
            // Redis checks a reply against the hard limit as it is queued, however fast
            // the client reads.
            self.over_limit();
            return false;
        }
        if limit.soft > 0 && self.output.len() as u64 > limit.soft && self.soft_since.is_none() {
            self.soft_since = Some(Instant::now());
        }
        // Usually the kernel takes everything at once; only a client that reads slowly
        // needs the waiting path (boxed, so that an idle connection's task stays small).
        let mut written = 0;
        while written < self.output.len() {
            match self.socket.try_write(&self.output[written..]) {
                Ok(0) => return false,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        self.traffic.1 += written as u64;
        if written < self.output.len()
            && !Box::pin(self.write_rest(limit, written, limits.query_buffer_limit)).await
        {
            return false;
        }
        // Give the buffer back: most replies are small, and an idle client holds nothing.
        self.output = Vec::new();
        true
    }

    /// Writes `output[written..]` to a client that is not taking it all, applying the
    /// output-buffer limits while it waits. Meanwhile it keeps reading what the client sends
    /// (up to `input_limit`, `client-query-buffer-limit`), as Redis does: a client that
    /// writes a long pipeline whole before it reads any reply (redis-py's pipelines do) would
    /// otherwise wait on the server while the server waits on it.
    async fn write_rest(
        &mut self,
        limit: OutputLimit,
        mut written: usize,
        input_limit: u64,
    ) -> bool {
        while written < self.output.len() {
            let pending = (self.output.len() - written) as u64;
            if limit.hard > 0 && pending > limit.hard {
                self.over_limit();
                return false;
            }
            if limit.soft > 0 && pending > limit.soft && self.soft_since.is_none() {
                self.soft_since = Some(Instant::now());
            }
            let soft_deadline = match self.soft_since {
                Some(since) if limit.soft > 0 => {
                    Some(since + Duration::from_secs(limit.soft_seconds))
                }
                _ => None,
            };
            if soft_deadline.is_some_and(|at| Instant::now() >= at) {
                self.over_limit();
                return false;
            }
            let sleep = async {
                match soft_deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let closing = self.closing;
            tokio::select! {
                biased;
                // A stopping server lets replies already made reach their client (its own
                // deadline bounds how long); a killed client gets nothing more.
                _ = self.killed.rung(), if !closing => {
                    if self.engine.is_shutting_down() {
                        self.closing = true;
                    } else {
                        return false;
                    }
                }
                w = self.socket.writable() => match w.and_then(|()| self.socket.try_write(&self.output[written..])) {
                    Ok(0) => return false,
                    Ok(n) => {
                        written += n;
                        // Progress is interaction: a slow reader is not idle.
                        self.traffic.1 += n as u64;
                        self.count_traffic();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return false,
                },
                r = self.socket.readable() => {
                    if r.is_err() || !self.take_input(input_limit) {
                        return false;
                    }
                }
                // Wake to check the soft limit again while the client is not reading.
                _ = sleep => {}
            }
        }
        true
    }

    /// Reads what the client has sent into `input` while its replies wait; false when it has
    /// gone, or has sent more than `limit` (the query buffer limit closes it, as Redis does).
    fn take_input(&mut self, limit: u64) -> bool {
        match read_available(&self.socket, &mut self.input) {
            Ok(0) => false,
            Ok(n) => {
                self.traffic.0 += n as u64;
                if self.input.len() as u64 > limit {
                    tracing::warn!(
                        id = self.session.id(),
                        "closing client that exceeded the query buffer limit"
                    );
                    return false;
                }
                true
            }
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    fn over_limit(&self) {
        tracing::warn!(
            "Client id={} closed for overcoming of output buffer limits.",
            self.session.id()
        );
    }

    /// Hands INFO the traffic since the last call, and reads the current limits (one lock).
    fn count_traffic(&mut self) -> rill_engine::ConnectionLimits {
        let (input, output) = std::mem::take(&mut self.traffic);
        self.engine
            .account_traffic(self.session.id(), input, output)
    }
}

/// How a connection learns it must end (killed, or the server stopping): a flag that stays
/// set, and the waker of the connection's task. Cheaper to wait on than a `Notify`: waiting
/// stores no future, which keeps every idle connection's task small.
#[derive(Default)]
struct Doorbell {
    rung: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// Sets the flag and wakes the task (from any thread).
    fn ring(&self) {
        self.rung.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().map(|mut w| w.take()).unwrap_or(None);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether it rang.
    fn has_rung(&self) -> bool {
        self.rung.load(Ordering::SeqCst)
    }

    /// Whether it rang; if not, the task is woken when it does.
    fn poll_rung(&self, cx: &mut Context<'_>) -> bool {
        if self.has_rung() {
            return true;
        }
        if let Ok(mut slot) = self.waker.lock() {
            *slot = Some(cx.waker().clone());
        }
        // It may have rung between the check and storing the waker.
        self.rung.load(Ordering::SeqCst)
    }

    /// Resolves once it has rung.
    async fn rung(&self) {
        std::future::poll_fn(|cx| {
            if self.poll_rung(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Reads what the socket has into `input` without waiting. Bytes land in the thread's read
/// buffer first and `input` grows by exactly what came, so a connection that is woken without
/// data (readiness can be spurious) or sends a short command holds no 16 KiB buffer; a frame
/// whose big argument the parser has already made room for is read into that room directly.
///
/// A read that fills less room than it had emptied the socket, so it also clears the socket's
/// readiness, as tokio's own `poll_read` does on epoll: the next wait goes straight to the
/// event loop instead of first paying a `recv` that can only say "would block" (one system
/// call per request at pipeline 1, a tenth of a small command's cost). The read runs inside
/// `try_io`, whose readiness snapshot precedes it: data that arrives after the read moves the
/// readiness on, and the clearing then leaves it alone.
fn read_available(socket: &TcpStream, input: &mut BytesMut) -> std::io::Result<usize> {
    let mut drained = 0;
    let read = socket.try_io(tokio::io::Interest::READABLE, || {
        let (n, room) = read_now(socket, input)?;
        if n == 0 || n == room {
            return Ok(n);
        }
        drained = n;
        Err(std::io::ErrorKind::WouldBlock.into())
    });
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && drained > 0 => Ok(drained),
        other => other,
    }
}

/// One read into `input`: the bytes read and the room the read had.
fn read_now(socket: &TcpStream, input: &mut BytesMut) -> std::io::Result<(usize, usize)> {
    let room = input.capacity() - input.len();
    if room >= READ_CHUNK {
        return socket.try_read_buf(input).map(|n| (n, room));
    }
    READ_BUFFER.with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        let n = socket.try_read(&mut chunk[..])?;
        input.extend_from_slice(&chunk[..n]);
        Ok((n, chunk.len()))
    })
}

thread_local! {
    /// The buffer every connection on this thread reads into before its bytes are copied
    /// to the connection's own input: one per thread, so no connection holds one while idle
    /// and no read pays for zeroing a fresh one.
    static READ_BUFFER: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_CHUNK].into_boxed_slice());
}

/// While blocked, keeps reading so a client that hangs up is noticed (and its block removed);
/// bytes it sends meanwhile are kept for later, up to `client-query-buffer-limit`. Resolves
/// when the client is gone or has sent more than that.
async fn wait_for_departure(socket: &TcpStream, input: &mut BytesMut, limit: u64) {
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        match read_available(socket, input) {
            Ok(0) => return,
            // Still here; what it sent waits (bounded by the query buffer check later).
            Ok(_) if input.len() as u64 > limit => {
                tracing::warn!("closing blocked client that exceeded the query buffer limit");
                return;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
