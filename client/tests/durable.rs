//! `Client::open(dir)`: an embedded engine that keeps its streams, groups and pending
//! entries across restarts of the process, without a server.

use rill::{Client, GroupStart};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    value: f64,
}

#[tokio::test]
async fn streams_groups_and_pending_entries_survive_a_restart() -> rill::Result<()> {
    let dir = std::env::temp_dir().join(format!("rill-client-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sent: Vec<Reading> = (0..5)
        .map(|i| Reading {
            sensor: format!("t{i}"),
            value: i as f64 / 2.0,
        })
        .collect();
    {
        let client = Client::open(&dir)?;
        let stream = client.stream::<Reading>("readings");
        for r in &sent {
            stream.add(r).await?;
        }
        stream
            .ensure_group("uploader", GroupStart::Beginning)
            .await?;
        let read = stream.read_group("uploader", "edge-1", 2, None).await?;
        stream.ack("uploader", &[read[0].id]).await?;
        client.close();
    }
    // A new process on the same directory.
    let client = Client::open(&dir)?;
    let stream = client.stream::<Reading>("readings");
    let all = stream.range(rill::IdRange::all(), None).await?;
    let values: Vec<Reading> = all.into_iter().map(|e| e.value).collect();
    assert_eq!(values, sent);
    let pending = stream.pending("uploader").await?;
    assert_eq!(pending.count, 1);
    // The group goes on where it was: the next read starts at the third entry.
    let next = stream.read_group("uploader", "edge-1", 10, None).await?;
    assert_eq!(next.len(), 3);
    assert_eq!(next[0].value, sent[2]);
    client.close();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn a_damaged_directory_is_a_storage_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("rill-client-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("appendonlydir/appendonly.aof.1.incr.aof"),
        "*1\r\n$4\r\nPI",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut config = rill::engine::Config::default();
    config
        .set("aof-load-truncated", "no", true)
        .unwrap_or_else(|e| panic!("{e}"));
    match rill::engine::Engine::open(&dir, config) {
        Err(e) => assert!(e.0.contains("appendonly.aof.1.incr.aof"), "{e}"),
        Ok(_) => panic!("a torn log loaded with aof-load-truncated no"),
    }
    // The client's default (aof-load-truncated yes) cuts the torn record and opens.
    assert!(Client::open(&dir).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
