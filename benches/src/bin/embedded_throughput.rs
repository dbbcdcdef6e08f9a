//! `embedded_throughput`: the typed client on the embedded engine, on one thread (a
//! current-thread runtime: one core), for the goals of batch publish and consume + ack.
//!
//! ```sh
//! cargo run --release -p rill-benches --bin embedded_throughput -- [--messages N] [--rounds R] [--nodes packed|plain] [--log no|everysec|always]
//! ```
//!
//! Publish: `add_batch` of 100 messages per call. Consume + ack: one consumer, batches of
//! 100, handlers that only count. The message is the ~50-byte JSON reading of
//! `client_throughput`. Each round runs on the default engine (sealed nodes packed with
//! LZ4) and on one with `rill-stream-compression no`, so the packing's share shows. With
//! `--log`, the engine keeps its append-only log in a scratch directory with that
//! `appendfsync` (a durable embedded client, `Client::open_with`). Prints each round and the
//! medians.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::consumer::Shutdown;
use rill::{Client, ConsumerOptions, Entry, GroupStart};
use serde::{Deserialize, Serialize};

const BATCH: usize = 100;

/// jemalloc, as `rill-server` links it: an application that embeds the engine for
/// throughput picks its allocator, and glibc's malloc costs a fifth of these instructions.
#[global_allocator]
static ALLOCATOR: rill_server::alloc::Jemalloc = rill_server::alloc::Jemalloc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    seq: u64,
    sensor: String,
    celsius: f64,
}

fn main() -> ExitCode {
    let usage = "Usage: embedded_throughput [--messages N] [--rounds R] [--nodes packed|plain] \
                 [--log no|everysec|always]";
    let Some(rill_benches::BenchArgs {
        messages,
        rounds,
        options,
    }) = rill_benches::messages_rounds_and((1_000_000, 5), &["--nodes", "--log"])
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let option = |name: &str| {
        options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    // Both kinds of engine unless one is named (a callgrind count of one alone).
    let engines: Vec<bool> = match option("--nodes") {
        None => vec![true, false],
        Some("packed") => vec![true],
        Some("plain") => vec![false],
        Some(_) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let log = match option("--log") {
        None => None,
        Some(policy @ ("no" | "everysec" | "always")) => Some(policy.to_string()),
        Some(_) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Per engine (packed, plain): publish and consume rates of every round.
    let mut figures = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for round in 1..=rounds {
        for (packed, (publish, consume)) in [true, false].into_iter().zip(&mut figures) {
            if !engines.contains(&packed) {
                continue;
            }
            match runtime.block_on(run(messages, packed, log.as_deref())) {
                Ok((p, c)) => {
                    let nodes = if packed { "packed" } else { "plain " };
                    println!(
                        "round {round}/{rounds} {nodes}: publish {p:>10.0}/s  consume+ack {c:>10.0}/s"
                    );
                    publish.push(p);
                    consume.push(c);
                }
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!(
        "\n`cargo run --release -p rill-benches --bin embedded_throughput -- --messages {messages} --rounds {rounds}`: one thread, medians"
    );
    for (nodes, (publish, consume)) in ["packed (default)", "plain"].iter().zip(&mut figures) {
        if publish.is_empty() {
            continue;
        }
        println!(
            "  {nodes:<16} batch publish {:>9.0} msgs/s, consume + ack {:>9.0} msgs/s",
            rill_benches::median(publish),
            rill_benches::median(consume)
        );
    }
    ExitCode::SUCCESS
}

/// A scratch directory for one run's log, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(n: usize, packed: bool, log: Option<&str>) -> Result<(f64, f64), rill::Error> {
    let mut config = rill_engine::Config::default();
    let set = |config: &mut rill_engine::Config, name, value| {
        config
            .set(name, value, true)
            .map_err(|e| rill::Error::Usage(e.to_string()))
    };
    if !packed {
        set(&mut config, "rill-stream-compression", "no")?;
    }
    let mut _scratch = None;
    let engine = match log {
        None => rill_engine::Engine::with_config(config),
        Some(policy) => {
            set(&mut config, "appendfsync", policy)?;
            static RUNS: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "rill-embedded-throughput-{}-{}",
                std::process::id(),
                RUNS.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let engine =
                rill_engine::Engine::open(&dir, config).map_err(|e| rill::Error::Storage(e.0))?;
            _scratch = Some(Scratch(dir));
            engine
        }
    };
    let client = Client::from_engine(engine);
    let stream = client.stream::<Reading>("bench");
    stream.ensure_group("g", GroupStart::Beginning).await?;
    let batches: Vec<Vec<Reading>> = (0..n)
        .map(|s| Reading {
            seq: s as u64,
            sensor: format!("sensor-{}", s % 1000),
            celsius: s as f64 / 10.0,
        })
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[Reading]>::to_vec)
        .collect();
    let started = Instant::now();
    for batch in &batches {
        stream.add_batch(batch).await?;
    }
    let publish = n as f64 / started.elapsed().as_secs_f64();

    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(
        "g",
        "c",
        ConsumerOptions::default()
            .batch_size(BATCH)
            .block(Duration::from_millis(10)),
    );
    let (count, stop) = (handled.clone(), shutdown.clone());
    let started = Instant::now();
    let summary = consumer
        .run(
            move |_e: Entry<Reading>| {
                let (count, stop) = (count.clone(), stop.clone());
                async move {
                    if count.fetch_add(1, Ordering::Relaxed) + 1 == n {
                        stop.trigger();
                    }
                    Ok::<(), String>(())
                }
            },
            shutdown,
        )
        .await?;
    let consume = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(summary.metrics.processed as usize, n);
    Ok((publish, consume))
}
