//! `rill-server [config-file] [--port N] [--bind ADDR] [--requirepass PW] [--maxclients N] ...`
//!
//! Serves the Rill engine over RESP on TCP (default 127.0.0.1:6379) until SIGINT, SIGTERM or
//! SHUTDOWN.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use rill_server::{Config, Server};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Counts the bytes the process holds, so INFO's `used_memory` is a counter read rather than
/// a walk over every key. The allocator is jemalloc built with Redis's 8-byte size classes
/// ([`rill_server::alloc`]), which keep small blocks close to their size (the system
/// allocator adds a header and rounds every block up to 32 bytes, which small keys and
/// packed collections pay dearly for), and what is counted is each block's usable size, the
/// allocator's rounding included, as Redis's zmalloc counts jemalloc's. A `GlobalAlloc` must
/// be an `unsafe impl`; this one only adds counting to [`Jemalloc`]'s.
#[allow(unsafe_code)]
mod counting_alloc {
    use std::alloc::{GlobalAlloc, Layout};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

    use rill_server::alloc::{usable_size, Jemalloc};

    /// INFO's `mem_allocator`.
    pub const NAME: &str = "jemalloc";

    /// jemalloc, counting.
    pub struct Counting;

    /// Threads that get a counter of their own; later threads share the last one.
    const SLOTS: usize = 64;

    /// Bytes allocated minus bytes freed, by thread. A thread only ever writes its own slot,
    /// so it adds with a plain load and store: a locked add per allocation and per free,
    /// as one shared counter takes, costs more than the allocation itself on small blocks.
    /// The last slot is shared by every thread past the first `SLOTS - 1`, and added to
    /// atomically.
    static COUNTS: [AtomicI64; SLOTS] = [const { AtomicI64::new(0) }; SLOTS];
    static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// This thread's slot in `COUNTS` (`usize::MAX` until its first allocation). No
        /// destructor, so it can be read while the thread is being torn down.
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }

    fn count(delta: i64) {
        let slot = SLOT.with(|slot| {
            if slot.get() == usize::MAX {
                slot.set(NEXT_SLOT.fetch_add(1, Relaxed).min(SLOTS - 1));
            }
            slot.get()
        });
        let counter = &COUNTS[slot];
        if slot < SLOTS - 1 {
            counter.store(counter.load(Relaxed) + delta, Relaxed);
        } else {
            counter.fetch_add(delta, Relaxed);
        }
    }

    /// The usable size of a block of `layout` resized to `size`, as a count.
    fn usable(layout: Layout, size: usize) -> i64 {
        usable_size(layout, size) as i64
    }

    // SAFETY: every method forwards to `Jemalloc` with the caller's arguments unchanged; the
    // counting is arithmetic on sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { Jemalloc.alloc(layout) };
            if !p.is_null() {
                count(usable(layout, layout.size()));
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { Jemalloc.alloc_zeroed(layout) };
            if !p.is_null() {
                count(usable(layout, layout.size()));
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(-usable(layout, layout.size()));
            unsafe { Jemalloc.dealloc(ptr, layout) };
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                count(usable(layout, new_size) - usable(layout, layout.size()));
            }
            p
        }
    }

    /// Bytes allocated right now.
    pub fn allocated() -> u64 {
        COUNTS.iter().map(|c| c.load(Relaxed)).sum::<i64>().max(0) as u64
    }
}

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// The log filter, reloaded when CONFIG SET changes `loglevel`.
static LOG_FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// What `loglevel` lets through; `RILL_LOG` (tracing's filter syntax) overrides it.
fn filter_for(level: &str) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_env("RILL_LOG") {
        return filter;
    }
    EnvFilter::new(match level {
        "debug" | "verbose" => "debug",
        "notice" => "info",
        "warning" => "warn",
        _ => "off",
    })
}

fn set_log_level(level: &str) {
    if let Some(handle) = LOG_FILTER.get() {
        let _ = handle.reload(filter_for(level));
    }
}

/// Logs go to `logfile` (appended to, as Redis does) or, when it is empty, to stdout.
fn init_logging(config: &Config) -> Result<(), String> {
    let level = config.engine.get("loglevel").unwrap_or("notice");
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let _ = LOG_FILTER.set(handle);
    let logfile = config.engine.get("logfile").unwrap_or("");
    let writer = if logfile.is_empty() {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .map_err(|e| format!("Can't open the log file: {e}"))?;
        BoxMakeWriter::new(std::sync::Mutex::new(file))
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(logfile.is_empty())
        .with_writer(writer);
    tracing_subscriber::registry().with(filter).with(fmt).init();
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("Usage: rill-server [/path/to/rill.conf] [--port N] [--bind ADDR] [--dir DIR] [--requirepass PW] [--maxclients N] [--<directive> value ...]");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("rill-server v={}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    let mut config = config;
    // `dir`: the working directory, as in Redis (files the server writes land there).
    let dir = config.engine.get("dir").unwrap_or(".").to_string();
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("Can't chdir to '{dir}': {e}");
        return ExitCode::from(1);
    }
    if let Ok(absolute) = std::env::current_dir() {
        let _ = config
            .engine
            .set("dir", &absolute.display().to_string(), true);
    }
    config.allocated_bytes = Some(counting_alloc::allocated);
    config.mem_allocator = Some(counting_alloc::NAME);
    config.log_level_hook = Some(set_log_level);
    // `io-threads` (as in Redis, default 1) sets the runtime's worker threads. Commands run
    // one at a time under the engine lock anyway; more threads only help when network work,
    // not the engine, is the bottleneck, and on a small box they contend for that lock.
    let threads = config
        .engine
        .get("io-threads")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    // One thread: a current-thread runtime, so no task ever crosses threads (Redis's model).
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    // The log's group commit syncs once per round of the event loop, like Redis's
    // beforeSleep: the hook needs the engine, which exists only once the server is bound.
    let park_engine: Arc<OnceLock<rill_engine::Engine>> = Arc::default();
    let on_park = park_engine.clone();
    builder.on_thread_park(move || {
        if let Some(engine) = on_park.get() {
            engine.before_sleep();
        }
    });
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        let _ = park_engine.set(server.engine().clone());
        let stop = server.shutdown_handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Received a signal, scheduling shutdown...");
            let _ = stop.send(true);
        });
        match server.local_addr() {
            Ok(addr) => tracing::info!(
                "Rill {} ready to accept connections tcp on {addr}",
                env!("CARGO_PKG_VERSION")
            ),
            Err(e) => tracing::warn!("cannot read the bound address: {e}"),
        }
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // Logged by the server; said again on stderr for whoever started it.
                eprintln!("{e}");
                ExitCode::from(1)
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
