//! An edge process that keeps its streams on disk, with no server: `Client::open_with(dir,
//! Durability::Always)` writes Redis 7's append-only log (the files rill-server and Redis 7
//! read), so after a restart the stream, its consumer group and the pending entries are where
//! they were. This example is embedded whatever `RILL_URL` says.
//!
//! ```text
//! cargo run -p rill --example durable
//! ```

use rill::{Client, Durability, GroupStart};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Reading {
    sensor: String,
    celsius: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("rill-example-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!("data directory: {}", dir.display());

    // First run: record, read two for upload, confirm one.
    {
        let client = Client::open_with(&dir, Durability::Always)?;
        let readings = client.stream::<Reading>("readings");
        for (i, celsius) in [21.5, 21.7, 22.0, 22.4].into_iter().enumerate() {
            readings
                .add(&Reading {
                    sensor: format!("t{i}"),
                    celsius,
                })
                .await?;
        }
        readings
            .ensure_group("uploader", GroupStart::Beginning)
            .await?;
        let batch = readings.read_group("uploader", "edge-1", 2, None).await?;
        readings.ack("uploader", &[batch[0].id]).await?;
        println!("run 1: 4 readings, 2 read for upload, 1 confirmed");
        client.close();
    }

    // The process restarts.
    let client = Client::open_with(&dir, Durability::Always)?;
    let readings = client.stream::<Reading>("readings");
    assert_eq!(readings.len().await?, 4);
    let pending = readings.pending("uploader").await?;
    assert_eq!(pending.count, 1);
    let next = readings.read_group("uploader", "edge-1", 10, None).await?;
    assert_eq!(next.len(), 2);
    println!(
        "run 2: 4 readings kept, 1 still pending, the group goes on at {}",
        next[0].id
    );
    client.close();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
