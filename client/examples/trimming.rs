//! Trimming: keeping a stream's memory bounded. By count, exactly (`MAXLEN =`) or approximately
//! (`MAXLEN ~`, which only drops whole internal nodes and so is much cheaper); by ID
//! (`MINID`); by age (`Trim::MaxAge`, a MINID computed from the clock); and on every write, with
//! the trim in the XADD itself.
//!
//! ```text
//! cargo run -p rill --example trimming                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example trimming  # a server
//! ```

use std::time::{Duration, SystemTime};

use rill::{Client, IdRange, Stream, StreamId, Trim};
use serde::{Deserialize, Serialize};

const EXACT: &str = "example:trimming:exact";
const APPROX: &str = "example:trimming:approx";
const BY_ID: &str = "example:trimming:min-id";
const BY_AGE: &str = "example:trimming:max-age";
const ON_WRITE: &str = "example:trimming:on-write";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Tick {
    n: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client
        .command(&["DEL", EXACT, APPROX, BY_ID, BY_AGE, ON_WRITE])
        .await?;

    // MAXLEN = 100: exactly the newest 100 stay.
    let exact = client.stream::<Tick>(EXACT);
    fill(&exact, 1000).await?;
    let removed = exact
        .trim(Trim::MaxLen {
            len: 100,
            approx: false,
        })
        .await?;
    let first = exact.range(IdRange::all(), Some(1)).await?;
    println!(
        "MAXLEN = 100 on 1000 entries: removed {removed}, {} left, first is tick {}",
        exact.len().await?,
        first[0].value.n
    );
    assert_eq!(removed, 900);
    assert_eq!(exact.len().await?, 100);
    assert_eq!(first[0].value.n, 900);

    // MAXLEN ~ 250: only whole nodes go, so at least 250 stay (how many more depends on the
    // node size, `stream-node-max-entries` and `stream-node-max-bytes`).
    let approx = client.stream::<Tick>(APPROX);
    fill(&approx, 1000).await?;
    let removed = approx
        .trim(Trim::MaxLen {
            len: 250,
            approx: true,
        })
        .await?;
    let left = approx.len().await?;
    println!("MAXLEN ~ 250 on 1000 entries: removed {removed}, {left} left");
    assert_eq!(removed + left, 1000);
    assert!((250..1000).contains(&left), "{left} left");
    // Already within a node of the target: nothing to drop.
    let again = approx
        .trim(Trim::MaxLen {
            len: 250,
            approx: true,
        })
        .await?;
    println!("MAXLEN ~ 250 again: removed {again}");
    assert_eq!(again, 0);

    // MINID: drop everything before a given entry (here: the 600th).
    let by_id = client.stream::<Tick>(BY_ID);
    let ids = fill(&by_id, 1000).await?;
    let removed = by_id
        .trim(Trim::MinId {
            id: ids[600],
            approx: false,
        })
        .await?;
    let first = by_id.range(IdRange::all(), Some(1)).await?;
    println!(
        "MINID = {}: removed {removed}, first is now tick {}",
        ids[600], first[0].value.n
    );
    assert_eq!(removed, 600);
    assert_eq!(first[0].id, ids[600]);

    // MaxAge: drop entries older than 5 minutes. The entries carry explicit IDs at known ages
    // (9.5, 8.5, ..., 0.5 minutes ago), as if the stream had been written for 10 minutes.
    let by_age = client.stream::<Tick>(BY_AGE);
    let now = SystemTime::now();
    for n in 0..10u32 {
        let age = Duration::from_secs(570 - 60 * u64::from(n));
        let id = rill::id_at(now - age);
        by_age.add_with(&Tick { n }, Some(id), None).await?;
    }
    let removed = by_age
        .trim(Trim::MaxAge {
            age: Duration::from_secs(300),
            approx: false,
        })
        .await?;
    let kept: Vec<u32> = by_age
        .range(IdRange::all(), None)
        .await?
        .iter()
        .map(|e| e.value.n)
        .collect();
    println!("MaxAge 5 min on entries 9.5 .. 0.5 min old: removed {removed}, kept ticks {kept:?}");
    assert_eq!(removed, 5);
    assert_eq!(kept, [5, 6, 7, 8, 9]);

    // On write: every XADD trims too, so the stream never grows past the cap.
    let on_write = client.stream::<Tick>(ON_WRITE);
    let cap = Trim::MaxLen {
        len: 20,
        approx: false,
    };
    for n in 0..50 {
        on_write.add_with(&Tick { n }, None, Some(cap)).await?;
    }
    let info = on_write.info().await?;
    println!(
        "50 XADDs with MAXLEN = 20: length {}, entries added {}, first is tick {}",
        info.length,
        info.entries_added,
        on_write.range(IdRange::all(), Some(1)).await?[0].value.n
    );
    assert_eq!((info.length, info.entries_added), (20, 50));

    println!("\nok: exact, approximate, MINID, age and on-write trimming");
    Ok(())
}

/// Adds ticks 0..n, in batches; returns their IDs.
async fn fill(stream: &Stream<Tick>, n: u32) -> Result<Vec<StreamId>, rill::Error> {
    let ticks: Vec<Tick> = (0..n).map(|n| Tick { n }).collect();
    let mut ids = Vec::with_capacity(ticks.len());
    for chunk in ticks.chunks(250) {
        ids.extend(stream.add_batch(chunk).await?);
    }
    Ok(ids)
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
