//! One client connection: read what is buffered, run every complete request, write all
//! replies in one flush (pipelining); protocol errors are answered, then the connection closes.

use std::sync::Arc;

use bytes::BytesMut;
use rill_engine::{Close, Engine, Reply, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::protocol::{parse_request, Limits};

/// Serves one client until it leaves, is killed, breaks the protocol, or the server stops.
pub async fn serve(engine: Engine, mut socket: TcpStream, mut shutdown: watch::Receiver<bool>) {
    let _ = socket.set_nodelay(true);
    let peer = socket.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let local = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mut session = engine.session();
    let killed = Arc::new(Notify::new());
    let notify = killed.clone();
    session.attach(peer.clone(), local, Arc::new(move || notify.notify_one()));
    tracing::debug!(%peer, id = session.id(), "client connected");

    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let read = tokio::select! {
            r = socket.read_buf(&mut input) => r,
            _ = killed.notified() => break,
            _ = shutdown.changed() => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (max_bulk_len, query_buffer_limit) = engine.wire_limits();
        if input.len() as u64 > query_buffer_limit {
            tracing::warn!(%peer, "closing client that exceeded the query buffer limit");
            break;
        }
        let (close, _) = run_buffered(&mut session, &mut input, &mut output, max_bulk_len);
        let written = output.len();
        if !output.is_empty() {
            if socket.write_all(&output).await.is_err() {
                break;
            }
            output.clear();
        }
        engine.count_net(n as u64, written as u64);
        if close {
            break;
        }
    }
    tracing::debug!(%peer, "client gone");
}

/// Runs every complete request in `input`, appending replies to `output`. Returns whether
/// the connection must close after the write, and how many requests ran.
pub fn run_buffered(
    session: &mut Session,
    input: &mut BytesMut,
    output: &mut Vec<u8>,
    max_bulk_len: u64,
) -> (bool, usize) {
    let mut ran = 0;
    loop {
        let limits = Limits {
            max_bulk_len,
            authenticated: session.is_authenticated(),
        };
        match parse_request(input, limits) {
            Ok(None) => return (false, ran),
            Ok(Some(args)) if args.is_empty() => continue,
            Ok(Some(args)) => {
                let reply = session.execute(&args);
                ran += 1;
                match session.close_requested() {
                    Close::Now => return (true, ran),
                    Close::AfterReply => {
                        reply.encode(session.protocol(), output);
                        return (true, ran);
                    }
                    Close::No => reply.encode(session.protocol(), output),
                }
            }
            Err(e) => {
                Reply::Error(e.0).encode(session.protocol(), output);
                input.clear();
                return (true, ran);
            }
        }
    }
}
