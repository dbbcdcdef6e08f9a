//! Multi-stream aggregation: one reader follows several streams at once with XREAD (one stream
//! per region here), keeps a cursor per stream, totals what it reads, merges the entries into
//! one timeline by ID, and then blocks until any of the streams gets something new.
//!
//! ```text
//! cargo run -p rill --example aggregation                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example aggregation  # a server
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rill::{Client, Entry, Stream, StreamId};
use serde::{Deserialize, Serialize};

const EU: &str = "example:aggregation:sales:eu";
const US: &str = "example:aggregation:sales:us";
const APAC: &str = "example:aggregation:sales:apac";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Sale {
    item: String,
    cents: u64,
}

fn sale(item: &str, cents: u64) -> Sale {
    Sale {
        item: item.to_string(),
        cents,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", EU, US, APAC]).await?;

    let regions = [
        client.stream::<Sale>(EU),
        client.stream::<Sale>(US),
        client.stream::<Sale>(APAC),
    ];
    let [eu, us, apac] = &regions;
    // Interleaved, as sales come in from everywhere, a few milliseconds apart.
    let sales = [
        (eu, sale("book", 1200)),
        (us, sale("lamp", 4500)),
        (eu, sale("pen", 300)),
        (apac, sale("mug", 900)),
        (us, sale("desk", 25000)),
        (eu, sale("chair", 8000)),
        (us, sale("pen", 350)),
        (eu, sale("book", 1250)),
    ];
    for (stream, s) in &sales {
        stream.add(s).await?;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    println!("added 8 sales across eu (4), us (3) and apac (1)");

    // One XREAD over the three streams, at most 2 entries per stream per call; each stream's
    // cursor moves to the last ID read from it, until a call brings nothing.
    let mut cursors: BTreeMap<String, StreamId> = regions
        .iter()
        .map(|s| (s.key().to_string(), StreamId::new(0, 0)))
        .collect();
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut timeline: Vec<(String, Entry<Sale>)> = Vec::new();
    let mut calls = 0;
    loop {
        let batch = client
            .read_streams(&from(&regions, &cursors), Some(2), None)
            .await?;
        if batch.is_empty() {
            break;
        }
        calls += 1;
        for (key, entries) in batch {
            let total = totals.entry(key.clone()).or_default();
            for entry in entries {
                total.0 += 1;
                total.1 += entry.value.cents;
                cursors.insert(key.clone(), entry.id);
                timeline.push((key.clone(), entry));
            }
        }
    }
    println!("\nread everything in {calls} XREAD calls (COUNT 2 per stream)");
    for (key, (count, cents)) in &totals {
        println!("  {:<5} {count} sales, {}", region(key), money(*cents));
    }
    let grand: u64 = totals.values().map(|(_, c)| c).sum();
    println!("  all regions: {} sales, {}", timeline.len(), money(grand));
    assert_eq!(calls, 2);
    assert_eq!(totals[EU], (4, 10750));
    assert_eq!(totals[US], (3, 29850));
    assert_eq!(totals[APAC], (1, 900));
    assert_eq!(grand, 41500);

    // IDs carry the millisecond they were added in: sorting by ID merges the streams in
    // order. Only to the millisecond, though: sequence numbers count per stream, so entries of
    // different streams added in the same millisecond compare in no meaningful order.
    timeline.sort_by_key(|(_, e)| e.id);
    println!("\nmerged timeline:");
    for (key, e) in &timeline {
        println!(
            "  {}  {:<5} {:>8}  {}",
            e.id,
            region(key),
            money(e.value.cents),
            e.value.item
        );
    }
    let items: Vec<&str> = timeline
        .iter()
        .map(|(_, e)| e.value.item.as_str())
        .collect();
    assert_eq!(
        items,
        ["book", "lamp", "pen", "mug", "desk", "chair", "pen", "book"]
    );

    // Caught up: block until any region sells something (apac, 150 ms from now).
    let late = apac.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        late.add(&sale("rug", 7000)).await
    });
    let woke = client
        .read_streams(
            &from(&regions, &cursors),
            None,
            Some(Duration::from_secs(5)),
        )
        .await?;
    for (key, entries) in &woke {
        for e in entries {
            println!(
                "\nwoke on {}: {} for {}",
                region(key),
                e.value.item,
                money(e.value.cents)
            );
        }
    }
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0].0, APAC);
    assert_eq!(woke[0].1[0].value, sale("rug", 7000));

    println!("\nok: three streams read together, totalled, merged and followed");
    Ok(())
}

/// Each stream with the cursor to read after.
fn from<'a>(
    regions: &'a [Stream<Sale>],
    cursors: &BTreeMap<String, StreamId>,
) -> Vec<(&'a Stream<Sale>, StreamId)> {
    regions
        .iter()
        .map(|s| {
            (
                s,
                cursors.get(s.key()).copied().unwrap_or(StreamId::new(0, 0)),
            )
        })
        .collect()
}

fn region(key: &str) -> &str {
    key.rsplit(':').next().unwrap_or(key)
}

fn money(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
