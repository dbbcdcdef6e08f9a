//! One client connection: read what is buffered, run every complete request, write all
//! replies in one flush (pipelining); protocol errors are answered, then the connection closes.
//! A blocking command (XREAD BLOCK) parks the connection until its reply, its timeout, or the
//! client's departure; requests that arrive meanwhile wait their turn, as in Redis.

use std::sync::Arc;

use bytes::BytesMut;
use rill_engine::blocking::BlockedReply;
use rill_engine::{Close, Engine, Reply, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::protocol::{Limits, RequestParser};

/// What a run over the buffered requests ended with.
pub enum Batch {
    /// Every complete request ran; read more.
    NeedInput,
    /// Write what is pending, then close.
    Close,
    /// A command blocked: write what is pending, then wait for its reply.
    Blocked(BlockedReply),
}

/// Serves one client until it leaves, is killed, breaks the protocol, or the server stops.
pub async fn serve(engine: Engine, mut socket: TcpStream, mut shutdown: watch::Receiver<bool>) {
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
    let killed = Arc::new(Notify::new());
    let notify = killed.clone();
    session.attach(peer.clone(), local, Arc::new(move || notify.notify_one()));
    tracing::debug!(%peer, id = session.id(), "client connected");

    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut parser = RequestParser::default();
    'connection: loop {
        let read = tokio::select! {
            r = socket.read_buf(&mut input) => r,
            _ = killed.notified() => break,
            _ = shutdown.changed() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut written = 0;
        loop {
            let (max_bulk_len, query_buffer_limit) = engine.wire_limits();
            if input.len() as u64 > query_buffer_limit {
                tracing::warn!(%peer, "closing client that exceeded the query buffer limit");
                break 'connection;
            }
            let batch = run_buffered(
                &mut session,
                &mut parser,
                &mut input,
                &mut output,
                max_bulk_len,
            );
            if !output.is_empty() {
                written += output.len();
                if socket.write_all(&output).await.is_err() {
                    break 'connection;
                }
                output.clear();
            }
            match batch {
                Batch::NeedInput => break,
                Batch::Close => {
                    engine.count_net(n as u64, written as u64);
                    break 'connection;
                }
                Batch::Blocked(reply) => {
                    // The engine's timer answers a timeout; a served read's reply wins.
                    let reply = tokio::select! {
                        biased;
                        r = reply => r,
                        _ = killed.notified() => break 'connection,
                        _ = shutdown.changed() => break 'connection,
                        gone = wait_for_departure(&mut socket, &mut input) => {
                            if gone { break 'connection; }
                            continue;
                        }
                    };
                    reply.encode(session.protocol(), &mut output);
                }
            }
        }
        engine.count_net(n as u64, written as u64);
    }
    tracing::debug!(%peer, "client gone");
}

/// While blocked, keeps reading so a client that hangs up is noticed (and its block removed);
/// bytes it sends meanwhile are kept for later. Returns true when the client is gone.
async fn wait_for_departure(socket: &mut TcpStream, input: &mut BytesMut) -> bool {
    loop {
        match socket.read_buf(input).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => {
                // Still here; keep listening (bounded by the query buffer check later).
                if input.len() > 64 * 1024 * 1024 {
                    return true;
                }
            }
        }
    }
}

/// Runs every complete request in `input`, appending replies to `output`.
pub fn run_buffered(
    session: &mut Session,
    parser: &mut RequestParser,
    input: &mut BytesMut,
    output: &mut Vec<u8>,
    max_bulk_len: u64,
) -> Batch {
    loop {
        let limits = Limits {
            max_bulk_len,
            authenticated: session.is_authenticated(),
        };
        match parser.parse(input, limits) {
            Ok(None) => return Batch::NeedInput,
            Ok(Some(args)) if args.is_empty() => continue,
            Ok(Some(args)) => {
                let reply = session.execute(&args);
                if let Some(blocked) = session.take_blocked() {
                    return Batch::Blocked(blocked);
                }
                match session.close_requested() {
                    Close::Now => return Batch::Close,
                    Close::AfterReply => {
                        reply.encode(session.protocol(), output);
                        return Batch::Close;
                    }
                    Close::No => reply.encode(session.protocol(), output),
                }
            }
            Err(e) => {
                Reply::Error(e.0).encode(session.protocol(), output);
                input.clear();
                return Batch::Close;
            }
        }
    }
}
