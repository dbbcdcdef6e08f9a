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

/// Set in the child process of [`killed_at_random_moments_loses_no_acknowledged_write`]: the
/// directory it writes to.
const CHILD_DIR: &str = "RILL_DURABLE_CHILD_DIR";

/// The child: opens the directory with `Durability::Always` and, until killed, adds entries
/// (one at a time, and every third step a batch of three), reads them through a group and
/// acknowledges every other read, printing each step once its call returned (`added ID`,
/// `acked ID`). Does nothing in an ordinary test run.
#[tokio::test]
async fn durable_child_process() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    use std::io::Write;
    let client = Client::open_with(&dir, rill::Durability::Always).expect("open");
    let stream = client.stream::<Reading>("readings");
    stream
        .ensure_group("uploader", GroupStart::Beginning)
        .await
        .expect("group");
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let reading = |n: u64| Reading {
            sensor: format!("s{i}.{n}"),
            value: i as f64,
        };
        // Every third step a batch of three (one wait for the log, after the last).
        let ids = if i % 3 == 0 {
            let batch: Vec<Reading> = (0..3).map(reading).collect();
            stream.add_batch(&batch).await.expect("add_batch")
        } else {
            vec![stream.add(&reading(0)).await.expect("add")]
        };
        for id in ids {
            writeln!(out, "added {id}")
                .and_then(|()| out.flush())
                .expect("stdout");
        }
        let read = stream
            .read_group("uploader", "edge", 3, None)
            .await
            .expect("read");
        for entry in read.iter().filter(|_| i % 2 == 0) {
            stream.ack("uploader", &[entry.id]).await.expect("ack");
            writeln!(out, "acked {}", entry.id)
                .and_then(|()| out.flush())
                .expect("stdout");
        }
    }
}

/// `Client::open_with(dir, Durability::Always)`, killed with SIGKILL at random moments, over
/// and over on the same directory: every entry whose `add` returned is there after each
/// restart, every entry whose `ack` returned is no longer pending, and the group's pending
/// list holds only delivered entries.
#[test]
fn killed_at_random_moments_loses_no_acknowledged_write() {
    use std::collections::BTreeSet;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("rill-client-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().expect("test binary");
    let (mut added, mut acked) = (BTreeSet::new(), BTreeSet::new());
    // A cheap pseudo-random sequence of kill delays between 20 and 200 ms, counted from the
    // child's first write: from its start, a loaded machine could kill every round before
    // the child wrote anything.
    let mut seed = u64::from(std::process::id());
    let rounds = std::env::var("RILL_KILL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    for round in 0..rounds {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis(20 + (seed >> 33) % 180);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durable_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(std::time::Duration::from_secs(30));
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let first = first.unwrap_or_else(|e| panic!("round {round}: the child wrote nothing: {e}"));
        reader.join().expect("reader");
        for line in std::iter::once(first).chain(lines.try_iter()) {
            match line.split_once(' ') {
                Some(("added", id)) => added.insert(id.to_string()),
                Some(("acked", id)) => acked.insert(id.to_string()),
                _ => false,
            };
        }

        // Restart on the same directory and check everything acknowledged so far.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client = Client::open_with(&dir, rill::Durability::Always).expect("reopen");
            let stream = client.stream::<Reading>("readings");
            let stored: BTreeSet<String> = stream
                .range(rill::IdRange::all(), None)
                .await
                .expect("range")
                .iter()
                .map(|e| e.id.to_string())
                .collect();
            let lost: Vec<&String> = added.difference(&stored).collect();
            assert!(
                lost.is_empty(),
                "round {round}: acknowledged adds lost: {lost:?}"
            );
            let query = rill::PendingQuery {
                count: 1_000_000,
                ..rill::PendingQuery::default()
            };
            let pending: BTreeSet<String> = match stream.pending_entries("uploader", &query).await {
                Ok(rows) => rows.iter().map(|p| p.id.to_string()).collect(),
                Err(e) if e.is_no_group() && added.is_empty() => BTreeSet::new(),
                Err(e) => panic!("round {round}: {e}"),
            };
            let revived: Vec<&String> = acked.intersection(&pending).collect();
            assert!(
                revived.is_empty(),
                "round {round}: acked entries pending again: {revived:?}"
            );
            assert!(
                pending.is_subset(&stored),
                "round {round}: pending entries not stored"
            );
            client.close();
        });
    }
    assert!(!added.is_empty(), "the child never got to write");
    let _ = std::fs::remove_dir_all(&dir);
}
