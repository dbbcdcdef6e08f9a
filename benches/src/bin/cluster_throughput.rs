//! `cluster_throughput`: a partitioned stream's publish and consume throughput on a Redis
//! Cluster of one node and of three, in one run, through the same cluster client.
//!
//! ```sh
//! cargo run --release -p rill-benches --bin cluster_throughput -- [--messages N] [--rounds R]
//! ```
//!
//! Each round starts fresh clusters (redis-server nodes joined by `redis-cli --cluster
//! create`, as `rill_tests::cluster` does), writes N messages to a stream of 6 partitions
//! with `add_batch` (100 per call, spread over the partitions by key), then consumes and
//! acknowledges them with a worker pool of one consumer per partition. The table shows
//! medians. On a machine with fewer cores than nodes plus the client, the nodes compete for
//! the same cores, which caps what a bigger cluster can show.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::consumer::Shutdown;
use rill::{Client, ConsumerOptions, Entry, GroupStart};
use rill_tests::cluster::RedisCluster;
use serde::{Deserialize, Serialize};

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PARTITIONS: usize = 6;
const PUBLISH_BATCH: usize = 100;
const CONSUME_BATCH: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    seq: u64,
    sensor: String,
    celsius: f64,
}

fn main() -> ExitCode {
    let Some((messages, rounds)) = rill_benches::messages_and_rounds((200_000, 3)) else {
        eprintln!("Usage: cluster_throughput [--messages N] [--rounds R]");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut results: Vec<(usize, Vec<f64>, Vec<f64>)> =
        vec![(1, Vec::new(), Vec::new()), (3, Vec::new(), Vec::new())];
    for round in 1..=rounds {
        for (nodes, publish, consume) in &mut results {
            let Some(cluster) = RedisCluster::start(*nodes) else {
                eprintln!("redis-server is not installed");
                return ExitCode::FAILURE;
            };
            match runtime.block_on(run(&cluster, messages)) {
                Ok((p, c)) => {
                    println!(
                        "round {round}/{rounds} {nodes} node(s): publish {p:>10.0}/s  consume+ack {c:>10.0}/s"
                    );
                    publish.push(p);
                    consume.push(c);
                }
                Err(e) => {
                    eprintln!("{nodes} node(s): {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    println!();
    println!(
        "`cargo run --release -p rill-benches --bin cluster_throughput -- --messages {messages} --rounds {rounds}`, \
         {} cores, {PARTITIONS} partitions, median msgs/s",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| Redis Cluster | batch publish (`add_batch`, 100/call) | consume + ack (one consumer per partition) |");
    println!("|---|---:|---:|");
    for (nodes, publish, consume) in &mut results {
        println!(
            "| {nodes} node{} | {:.0} | {:.0} |",
            if *nodes == 1 { "" } else { "s" },
            rill_benches::median(publish),
            rill_benches::median(consume)
        );
    }
    ExitCode::SUCCESS
}

/// Publishes then consumes `n` messages on a fresh partitioned stream; both rates.
async fn run(cluster: &RedisCluster, n: usize) -> Fallible<(f64, f64)> {
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let client = Client::connect_cluster(&seeds).await?;
    let stream = client.partitioned::<Reading>("bench", PARTITIONS);
    stream.ensure_group("g", GroupStart::Beginning).await?;

    let started = Instant::now();
    let mut seq = 0u64;
    while (seq as usize) < n {
        let batch: Vec<(String, Reading)> = (0..PUBLISH_BATCH.min(n - seq as usize))
            .map(|k| {
                let s = seq + k as u64;
                (
                    format!("sensor-{}", s % 1000),
                    Reading {
                        seq: s,
                        sensor: format!("sensor-{}", s % 1000),
                        celsius: s as f64 / 10.0,
                    },
                )
            })
            .collect();
        seq += batch.len() as u64;
        stream.add_batch(&batch).await?;
    }
    let publish = n as f64 / started.elapsed().as_secs_f64();

    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = Shutdown::new();
    let pool = stream.worker_pool(
        "g",
        ConsumerOptions::default()
            .batch_size(CONSUME_BATCH)
            .block(Duration::from_millis(50)),
    );
    let started = Instant::now();
    let (count, stop) = (handled.clone(), shutdown.clone());
    let summary = tokio::time::timeout(
        Duration::from_secs(120),
        pool.run(
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
        ),
    )
    .await
    .map_err(|_| format!("only {} of {n} consumed", handled.load(Ordering::Relaxed)))??;
    let consume = n as f64 / started.elapsed().as_secs_f64();
    if summary.metrics.processed as usize != n {
        return Err(format!("processed {} of {n}", summary.metrics.processed).into());
    }
    Ok((publish, consume))
}
