//! The listener: binds, accepts clients up to `maxclients`, runs active expiry, and stops
//! cleanly on SIGINT, SIGTERM or SHUTDOWN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rill_engine::{Engine, HostInfo};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

/// A bound server, ready to run.
pub struct Server {
    engine: Engine,
    listener: TcpListener,
    shutdown_tx: watch::Sender<bool>,
    /// Held from the start so that a stop requested before `run` begins is not lost (a watch
    /// channel with no receiver drops what is sent).
    shutdown_rx: watch::Receiver<bool>,
}

impl Server {
    /// Binds the listening socket. The error reads like Redis's when the port is taken.
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let addr = format!("{}:{}", config.bind, config.port);
        let listener = TcpListener::bind(&addr).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("Could not create server TCP listening socket {addr}: bind: {e}"),
            )
        })?;
        let local = listener.local_addr()?;
        let engine = Engine::with_config(config.engine.clone());
        engine.configure(|c| {
            let _ = c.set("port", &local.port().to_string(), true);
            let _ = c.set("bind", &config.bind, true);
        });
        engine.set_host_info(HostInfo {
            tcp_port: local.port(),
            config_file: config
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            allocated_bytes: config.allocated_bytes,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tx = shutdown_tx.clone();
        engine.on_shutdown(Arc::new(move || {
            let _ = tx.send(true);
        }));
        Ok(Server {
            engine,
            listener,
            shutdown_tx,
            shutdown_rx,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The engine behind this server.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A handle that stops the server when sent `true`.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown_tx.clone()
    }

    /// Accepts and serves clients until shutdown; then waits for connections to finish the
    /// replies they are writing.
    pub async fn run(self) {
        let Server {
            engine,
            listener,
            shutdown_tx,
            shutdown_rx: mut shutdown,
        } = self;
        if *shutdown.borrow_and_update() {
            return;
        }
        let expiry_engine = engine.clone();
        let mut expiry_stop = shutdown_tx.subscribe();
        let expiry = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => { expiry_engine.active_expire_cycle(); }
                    _ = expiry_stop.changed() => break,
                }
            }
        });
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (mut socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let max = engine.config().maxclients as usize;
                    if engine.client_count() >= max {
                        engine.count_connection(false);
                        tracing::warn!(%peer, "refusing client: max number of clients reached");
                        let _ = socket.write_all(b"-ERR max number of clients reached\r\n").await;
                        continue;
                    }
                    engine.count_connection(true);
                    let rx = shutdown_tx.subscribe();
                    connections.spawn(crate::connection::serve(engine.clone(), socket, rx));
                }
                _ = shutdown.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        tracing::info!("shutting down: no new connections, finishing in-flight replies");
        drop(listener);
        let _ = expiry.await;
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = connections.join_next() => if next.is_none() { break },
                _ = &mut deadline => { connections.abort_all(); break; }
            }
        }
        tracing::info!("Rill is now ready to exit, bye bye...");
    }
}
