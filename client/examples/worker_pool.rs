//! Competing consumers: a pool of workers in one consumer group sharing a queue of jobs. The
//! group hands each job to exactly one worker; each worker runs the whole consumer loop (ack on
//! success, retries, reclaim); the pool stops cleanly on a shutdown signal. Run the same code
//! in several processes (with different `prefix`es) to spread the work across machines.
//!
//! ```text
//! cargo run -p rill --example worker_pool                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example worker_pool  # a server
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::{Client, ConsumerOptions, Entry, GroupStart, Shutdown, WorkerPool};
use serde::{Deserialize, Serialize};

const JOBS: &str = "example:worker_pool:jobs";
const GROUP: &str = "thumbnails";
const JOB_COUNT: u32 = 40;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    n: u32,
    /// How long the job takes, standing in for real work.
    work_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", JOBS]).await?;

    let jobs = client.stream::<Job>(JOBS);
    let queue: Vec<Job> = (1..=JOB_COUNT)
        .map(|n| Job {
            n,
            work_ms: 5 + u64::from(n % 4) * 5,
        })
        .collect();
    let serial_ms: u64 = queue.iter().map(|j| j.work_ms).sum();
    jobs.add_batch(&queue).await?;
    println!("queued {JOB_COUNT} jobs ({serial_ms} ms of work one after the other)");

    // Four workers, `worker-1` to `worker-4`, each taking batches of 4. The pool creates the
    // group if needed; `claim_idle` is how long a dead worker's jobs wait before another
    // worker takes them over.
    let options = ConsumerOptions::default()
        .create_group(GroupStart::Beginning)
        .batch_size(4)
        .block(Duration::from_millis(200))
        .claim_idle(Some(Duration::from_secs(30)));
    let pool = WorkerPool::new(&jobs, GROUP, options).workers(4);
    println!("workers: {}", pool.consumer_names().join(", "));
    let metrics = pool.metrics();

    let shutdown = Shutdown::new();
    let done = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (done, stop) = (done.clone(), shutdown.clone());
        move |job: Entry<Job>| {
            let (done, stop) = (done.clone(), stop.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(job.value.work_ms)).await;
                let mut done = done.lock().map_err(|_| "lock poisoned")?;
                done.push(job.value.n);
                if done.len() == JOB_COUNT as usize {
                    stop.trigger(); // the queue is drained: stop the pool
                }
                Ok::<(), &str>(())
            }
        }
    };

    // While the pool runs, look at who holds jobs right now (the group's pending list).
    let watcher = {
        let jobs = jobs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            jobs.pending(GROUP).await
        })
    };

    let started = Instant::now();
    let summary = tokio::time::timeout(Duration::from_secs(20), pool.run(handler, shutdown))
        .await
        .map_err(|_| "the pool did not drain the queue in 20 s")??;
    let elapsed = started.elapsed();

    if let Ok(Ok(snapshot)) = watcher.await {
        println!(
            "\nafter 30 ms, jobs in hand per worker: {:?}",
            snapshot.consumers
        );
    }
    println!(
        "drained in {} ms with 4 workers ({serial_ms} ms serially)",
        elapsed.as_millis()
    );

    // Every job handled exactly once, all acknowledged, every worker in the group.
    let mut handled = done.lock().map_err(|_| "lock poisoned")?.clone();
    handled.sort_unstable();
    assert_eq!(handled, (1..=JOB_COUNT).collect::<Vec<_>>());
    assert_eq!(summary.metrics.processed, u64::from(JOB_COUNT));
    assert_eq!(metrics.snapshot().processed, u64::from(JOB_COUNT));
    assert_eq!(summary.metrics.failed, 0);
    assert_eq!(summary.left_pending, 0);
    assert_eq!(jobs.pending(GROUP).await?.count, 0);

    let consumers: BTreeMap<String, u64> = jobs
        .consumers(GROUP)
        .await?
        .into_iter()
        .map(|c| (c.name, c.pending))
        .collect();
    println!("consumers in group {GROUP} (name: pending): {consumers:?}");
    assert_eq!(consumers.len(), 4);

    println!(
        "\nok: {} jobs, each handled once, none pending, p50 {:?}",
        summary.metrics.processed, summary.metrics.p50
    );
    Ok(())
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
