//! Consumer metrics: the counters and latency percentiles of a running consumer, read from
//! another task while it works (what a `/metrics` endpoint or a periodic log line would do),
//! and the final figures when it stops. The jobs include slow ones, flaky ones that succeed on
//! retry, a poison one that ends in the dead-letter stream, and an entry no codec can read.
//!
//! ```text
//! cargo run -p rill --example metrics                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example metrics  # a server
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::{Client, ConsumerOptions, Entry, GroupStart, MetricsSnapshot, Shutdown};
use serde::{Deserialize, Serialize};

const JOBS: &str = "example:metrics:jobs";
const DEAD: &str = "example:metrics:jobs:dead";
const GROUP: &str = "encoders";
const JOB_COUNT: u32 = 50;
/// Fail on their first try, succeed on the retry.
const FLAKY: [u32; 5] = [10, 20, 30, 40, 50];
/// Fails every time: dead-lettered after `max_deliveries`.
const POISON: u32 = 25;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    n: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", JOBS, DEAD]).await?;

    let jobs = client.stream::<Job>(JOBS);
    jobs.ensure_group(GROUP, GroupStart::Beginning).await?;
    let queue: Vec<Job> = (1..=JOB_COUNT).map(|n| Job { n }).collect();
    jobs.add_batch(&queue).await?;
    // An entry written by some other program, in a shape this consumer cannot decode.
    client
        .command(&["XADD", JOBS, "*", "data", "{not json"])
        .await?;
    println!(
        "queued {JOB_COUNT} jobs (every 10th fails once, job {POISON} always) and 1 garbled entry"
    );

    let options = ConsumerOptions::default()
        .batch_size(5)
        .block(Duration::from_millis(100))
        .max_deliveries(Some(3))
        .backoff(Duration::from_millis(20), Duration::from_millis(100));
    let consumer = jobs.consumer(GROUP, "encoder-1", options);
    let metrics = consumer.metrics();

    let tried = Arc::new(Mutex::new(HashSet::new()));
    let handler = {
        let tried = tried.clone();
        move |job: Entry<Job>| {
            let tried = tried.clone();
            async move {
                let n = job.value.n;
                let first_try = tried.lock().map_err(|_| "lock poisoned")?.insert(n);
                // 1 to 9 ms of work.
                tokio::time::sleep(Duration::from_millis(1 + u64::from(n % 5) * 2)).await;
                if n == POISON {
                    return Err(format!("job {n}: unsupported format"));
                }
                if FLAKY.contains(&n) && first_try {
                    return Err(format!("job {n}: upstream timeout"));
                }
                Ok(())
            }
        }
    };

    // Stop when every job is either done or dead-lettered (the poison one and the garbled one).
    let shutdown = Shutdown::new();
    let reporter = {
        let (metrics, stop) = (metrics.clone(), shutdown.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            println!("\n  time  processed failed retries dead decode    p50    p95    p99");
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let m = metrics.snapshot();
                println!("{:>4} ms  {}", started.elapsed().as_millis(), line(&m));
                if m.processed == u64::from(JOB_COUNT) - 1 && m.dead_lettered == 2 {
                    stop.trigger();
                    break;
                }
            }
        })
    };
    let summary = tokio::time::timeout(Duration::from_secs(20), consumer.run(handler, shutdown))
        .await
        .map_err(|_| "the consumer did not finish in 20 s")??;
    reporter.await?;

    let m = &summary.metrics;
    println!("\nfinal:");
    println!("  processed      {}", m.processed);
    println!("  failed         {}", m.failed);
    println!("  retries        {}", m.retries);
    println!("  dead_lettered  {}", m.dead_lettered);
    println!("  decode_errors  {}", m.decode_errors);
    println!("  reclaimed      {}", m.reclaimed);
    println!("  avg_processing {:?}", m.avg_processing);
    println!("  p50 / p95 / p99 {:?} / {:?} / {:?}", m.p50, m.p95, m.p99);
    println!(
        "  last_error     {}",
        m.last_error.as_deref().unwrap_or("-")
    );
    println!("  left pending   {}", summary.left_pending);

    // 49 jobs succeed. Failures: 5 flaky first tries, 3 poison tries, 1 undecodable entry.
    // Retries: the 5 flaky jobs once each, the poison job twice. Dead letters: poison, garbled.
    assert_eq!(m.processed, u64::from(JOB_COUNT) - 1);
    assert_eq!(m.failed, 5 + 3 + 1);
    assert_eq!(m.retries, 5 + 2);
    assert_eq!((m.dead_lettered, m.decode_errors, m.reclaimed), (2, 1, 0));
    assert!(m.p50 <= m.p95 && m.p95 <= m.p99 && m.p99 > Duration::ZERO);
    assert!(m.last_error.is_some());
    assert_eq!(summary.left_pending, 0);
    assert_eq!(metrics.snapshot(), *m, "the handle and the summary agree");
    let letters = jobs.dead_letters(None, rill::IdRange::all(), None).await?;
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        println!("  dead letter for {}: {}", letter.entry_id, letter.error);
    }

    println!("\nok: metrics watched live and checked at the end");
    Ok(())
}

fn line(m: &MetricsSnapshot) -> String {
    format!(
        "{:>9} {:>6} {:>7} {:>4} {:>6} {:>6} {:>6} {:>6}",
        m.processed,
        m.failed,
        m.retries,
        m.dead_lettered,
        m.decode_errors,
        ms(m.p50),
        ms(m.p95),
        ms(m.p99)
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
