//! # rill-server
//!
//! Puts the Rill engine on TCP with the Redis protocol, so `redis-cli` and every Redis client
//! work against it. The binary is a thin wrapper over this library; tests and the `rill` client
//! start servers in-process with [`spawn`].
//!
//! ## Layout
//!
//! - [`config`]: command line and config file, redis-server style.
//! - [`protocol`]: request framing (RESP multibulk and inline) with Redis's limits and errors.
//! - [`listener`]: the listening socket and who becomes a client (maxclients, protected
//!   mode, keepalive, running out of descriptors).
//! - [`descriptors`]: the open-files limit `maxclients` needs.
//! - [`connection`]: one client: read, run requests in bounded batches, flush replies within
//!   the output-buffer limits.
//! - [`server`]: bind, accept, the periodic work (expiry, idle clients), clean shutdown.
//! - [`alloc`]: jemalloc with Redis's 8-byte size classes, every alignment honoured (the
//!   binary's allocator, and the benches' that measure embedded use).
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

pub mod alloc;
pub mod config;
pub mod connection;
pub mod descriptors;
pub mod listener;
pub mod protocol;
pub mod server;

use std::net::SocketAddr;
use std::thread::JoinHandle;

pub use config::Config;
pub use server::Server;

/// A server running on its own thread and runtime; stopped by [`RunningServer::shutdown`] or
/// when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    engine: rill_engine::Engine,
}

impl RunningServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine it serves (to inspect state in tests).
    pub fn engine(&self) -> &rill_engine::Engine {
        &self.engine
    }

    /// Stops accepting, lets connections finish, and waits for the thread to end.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts a server in this process (port 0 picks a free port) and returns once it listens.
/// Everything runs on a thread of its own, so this may be called from inside an async
/// runtime too (a test's `#[tokio::test]`, say).
pub fn spawn(config: Config) -> std::io::Result<RunningServer> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("rill-server".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let server = match runtime.block_on(Server::bind(config)) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let ready = server
                .local_addr()
                .map(|addr| (addr, server.shutdown_handle(), server.engine().clone()));
            let failed = ready.is_err();
            let _ = ready_tx.send(ready);
            if !failed {
                if let Err(e) = runtime.block_on(server.run()) {
                    tracing::error!("{e}");
                }
            }
        })?;
    let (addr, stop, engine) = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the server thread ended before listening"))??;
    Ok(RunningServer {
        addr,
        stop,
        thread: Some(thread),
        engine,
    })
}
