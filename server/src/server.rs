//! The server: binds, accepts clients (see `listener` for who gets in), runs the periodic
//! work (active expiry, idle clients) `hz` times a second, and stops cleanly on SIGINT,
//! SIGTERM or SHUTDOWN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rill_engine::{Engine, HostInfo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::listener::{self, Admission, SpareDescriptor};

/// A bound server, ready to run.
pub struct Server {
    engine: Engine,
    /// One listening socket per `bind` address.
    listeners: Vec<TcpListener>,
    shutdown_tx: watch::Sender<bool>,
    /// Held from the start so that a stop requested before `run` begins is not lost (a watch
    /// channel with no receiver drops what is sent).
    shutdown_rx: watch::Receiver<bool>,
    /// Applies a changed `loglevel` to the process's logger.
    log_level_hook: Option<fn(&str)>,
}

impl Server {
    /// Binds the listening sockets, one per `bind` address. The error reads like Redis's when
    /// the port is taken.
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let backlog = config.engine.int("tcp-backlog").min(i32::MAX as u64) as i32;
        let listeners = listener::bind_all(&config.bind, config.port, backlog)?;
        let mut config = config;
        let maxclients = crate::descriptors::fit_maxclients(config.engine.maxclients)
            .map_err(std::io::Error::other)?;
        if maxclients != config.engine.maxclients {
            let _ = config
                .engine
                .set("maxclients", &maxclients.to_string(), true);
        }
        let local = listeners[0].local_addr()?;
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
            mem_allocator: config.mem_allocator,
            config_check: Some(crate::descriptors::check_config),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let tx = shutdown_tx.clone();
        engine.on_shutdown(Arc::new(move || {
            let _ = tx.send(true);
        }));
        Ok(Server {
            engine,
            listeners,
            shutdown_tx,
            shutdown_rx,
            log_level_hook: config.log_level_hook,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners[0].local_addr()
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
    /// replies they are writing. With `appendonly yes` the log loads first, in the
    /// background: clients meanwhile get Redis's LOADING error (INFO and the like still
    /// answer). A log that cannot be loaded stops the server with the reason.
    pub async fn run(self) -> std::io::Result<()> {
        let Server {
            engine,
            listeners,
            shutdown_tx,
            shutdown_rx: mut shutdown,
            log_level_hook,
        } = self;
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        // The append-only log when it is on, else the RDB snapshot if there is one (Redis's
        // order); with neither, clients are served at once.
        let aof = engine.config_value("appendonly").as_deref() == Some("yes");
        let snapshot = rill_engine::rdb::save::path(&engine.config()).exists();
        let mut loader = (aof || snapshot).then(|| {
            // Before the load's thread starts: a client accepted meanwhile gets LOADING, never
            // the empty dataset.
            engine.begin_loading();
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || {
                if aof {
                    open_log(&engine)
                } else {
                    load_snapshot(&engine)
                }
            })
        });
        let mut load_failed = None;
        let cron_engine = engine.clone();
        let mut cron_stop = shutdown_tx.subscribe();
        let cron = tokio::spawn(async move {
            let mut log_level = cron_engine.config_value("loglevel");
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(cron_engine.cron_interval()) => {
                        cron_engine.active_expire_cycle();
                        cron_engine.serve_claimable();
                        cron_engine.persistence_cron();
                        for id in cron_engine.close_idle_clients() {
                            tracing::debug!("Closing idle client id={id}");
                        }
                        let level = cron_engine.config_value("loglevel");
                        if level != log_level {
                            if let (Some(hook), Some(level)) = (log_level_hook, &level) {
                                hook(level);
                            }
                            log_level = level;
                        }
                    }
                    // wait_for, not changed: a stop sent before this task subscribed counts.
                    _ = cron_stop.wait_for(|stop| *stop) => break,
                }
            }
        });
        let mut connections = JoinSet::new();
        let mut spare = SpareDescriptor::new();
        let mut accept_errors = listener::AcceptErrors::default();
        loop {
            tokio::select! {
                (which, accepted) = listener::accept_any(&listeners) => {
                    let (socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            accept_errors.record(&e);
                            if listener::out_of_descriptors(&e) && spare.refuse_one(&listeners[which]).await {
                                engine.count_connection(false);
                                continue;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    match listener::admit(&engine, &peer) {
                        Admission::Admit => {
                            listener::set_keepalive(&socket, engine.config_int("tcp-keepalive"));
                            connections.spawn(crate::connection::serve(engine.clone(), socket));
                        }
                        Admission::Refuse(answer) => {
                            tracing::debug!(%peer, "refusing client: {}", String::from_utf8_lossy(&answer[..answer.len().min(60)]));
                            connections.spawn(listener::refuse(socket, answer));
                        }
                    }
                }
                _ = shutdown.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                loaded = async {
                    match loader.as_mut() {
                        Some(load) => load.await,
                        None => std::future::pending().await,
                    }
                }, if loader.is_some() => {
                    loader = None;
                    let failure = match loaded {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => e,
                        Err(e) => std::io::Error::other(e),
                    };
                    tracing::error!("{failure}");
                    load_failed = Some(failure);
                    let _ = shutdown_tx.send(true);
                    break;
                }
            }
        }
        tracing::info!("shutting down: no new connections, finishing in-flight replies");
        engine.close_all_clients();
        drop(listeners);
        let _ = cron.await;
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = connections.join_next() => if next.is_none() { break },
                _ = &mut deadline => { connections.abort_all(); break; }
            }
        }
        // A snapshot when save points are set (unless SHUTDOWN settled it), and the log's
        // last writes reach the disk, before the process ends.
        if load_failed.is_none() {
            if let Err(e) = engine.save_on_exit() {
                tracing::warn!("Error trying to save the DB on exit: {e}");
            }
        }
        engine.close();
        if let Some(e) = load_failed {
            return Err(e);
        }
        tracing::info!("Rill is now ready to exit, bye bye...");
        Ok(())
    }
}

/// Loads `<dir>/<dbfilename>` when it exists (no append-only log). A file that cannot be
/// read stops the server, naming the file and the offset.
fn load_snapshot(engine: &Engine) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    match engine.load_snapshot().map_err(std::io::Error::other)? {
        Some(keys) => tracing::info!(
            "DB loaded from disk: {keys} keys in {:.3} seconds",
            started.elapsed().as_secs_f64()
        ),
        None => tracing::debug!("no RDB file to load"),
    }
    Ok(())
}

/// Loads and opens the append-only log (`appendonly yes`): `<dir>/<appenddirname>`, Redis 7's
/// layout. A load failure stops the server, naming the file and offset.
fn open_log(engine: &Engine) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    let report = engine.open_log().map_err(|e| std::io::Error::other(e.0))?;
    if let Some((file, len)) = &report.truncated {
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {file}!!! AOF loaded anyway because aof-load-truncated is enabled; the file was cut to {len} bytes"
        );
    }
    tracing::info!(
        "DB loaded from append only file: {} commands from {} files in {:.3} seconds",
        report.commands,
        report.files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
