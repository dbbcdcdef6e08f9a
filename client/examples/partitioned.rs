//! One logical stream over several keys: a `PartitionedStream` spreads clicks over four
//! partition streams (on Redis Cluster, over the nodes), keeps each user's clicks in one
//! partition and in order, and a worker pool consumes every partition through its own group.
//!
//! ```text
//! cargo run -p rill --example partitioned                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example partitioned  # a server
//! ```
//! On Redis Cluster, connect with `Client::connect_cluster(&[...])`: the code is the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill::{Client, ConsumerOptions, Entry, GroupStart, Shutdown};
use serde::{Deserialize, Serialize};

const NAME: &str = "example:partitioned:clicks";
const GROUP: &str = "sessions";
const CLICKS: u32 = 200;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Click {
    user: String,
    n: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    let clicks = client.partitioned::<Click>(NAME, 4);
    for p in clicks.partitions() {
        client.command(&["DEL", p.key()]).await?;
    }
    println!(
        "partitions: {}",
        clicks
            .partitions()
            .iter()
            .map(|p| p.key())
            .collect::<Vec<_>>()
            .join(", ")
    );
    clicks.ensure_group(GROUP, GroupStart::Beginning).await?;

    // Producers pick the partition by a key of their own: here the user.
    let batch: Vec<(String, Click)> = (0..CLICKS)
        .map(|n| {
            let user = format!("user-{}", n % 7);
            (user.clone(), Click { user, n })
        })
        .collect();
    let written = clicks.add_batch(&batch).await?;
    let mut per_partition = [0u32; 4];
    for (partition, _id) in &written {
        per_partition[*partition] += 1;
    }
    println!("written per partition: {per_partition:?}");
    assert_eq!(clicks.len().await?, u64::from(CLICKS));
    for user in ["user-0", "user-3"] {
        println!(
            "{user} -> partition {}",
            clicks.partition_of(user.as_bytes())
        );
    }

    // One worker per partition, each with its partition's group.
    let seen: Arc<Mutex<BTreeMap<String, Vec<u32>>>> = Arc::default();
    let shutdown = Shutdown::new();
    let pool = clicks.worker_pool(
        GROUP,
        ConsumerOptions::default()
            .batch_size(20)
            .block(Duration::from_millis(100)),
    );
    let handler = {
        let (seen, stop) = (seen.clone(), shutdown.clone());
        move |click: Entry<Click>| {
            let (seen, stop) = (seen.clone(), stop.clone());
            async move {
                let mut seen = seen.lock().map_err(|e| e.to_string())?;
                seen.entry(click.value.user.clone())
                    .or_default()
                    .push(click.value.n);
                if seen.values().map(Vec::len).sum::<usize>() == CLICKS as usize {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let summary =
        tokio::time::timeout(Duration::from_secs(30), pool.run(handler, shutdown)).await??;
    println!(
        "consumed {} clicks with {} workers",
        summary.metrics.processed,
        clicks.partitions().len()
    );
    assert_eq!(summary.metrics.processed, u64::from(CLICKS));
    let seen = seen.lock().map_err(|e| e.to_string())?;
    for (user, ns) in seen.iter() {
        // One user's clicks were in one partition, read by one worker: in order.
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{user}: {ns:?}");
    }
    println!("each user's clicks arrived in order");
    Ok(())
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
