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
//! - [`connection`]: one client: read, run every complete request, flush all replies.
//! - [`server`]: bind, accept, active expiry, clean shutdown.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod config;
pub mod connection;
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
pub fn spawn(config: Config) -> std::io::Result<RunningServer> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let server = runtime.block_on(Server::bind(config))?;
    let addr = server.local_addr()?;
    let stop = server.shutdown_handle();
    let engine = server.engine().clone();
    let thread = std::thread::Builder::new()
        .name(format!("rill-server-{}", addr.port()))
        .spawn(move || runtime.block_on(server.run()))?;
    Ok(RunningServer {
        addr,
        stop,
        thread: Some(thread),
        engine,
    })
}
