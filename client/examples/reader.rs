//! Reader: reading a stream without a consumer group. A range of IDs, page by page, the newest
//! entries, everything after a known ID (resuming where a reader left off), and tailing the
//! stream with a blocking read that wakes when a new entry comes.
//!
//! ```text
//! cargo run -p rill --example reader                                   # embedded engine
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example reader  # rill-server or Redis
//! ```

use std::time::{Duration, Instant};

use rill::{Client, Entry, IdRange, StreamId};
use serde::{Deserialize, Serialize};

const EVENTS: &str = "example:reader:events";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Event {
    n: u32,
    kind: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", EVENTS]).await?;

    let events = client.stream::<Event>(EVENTS);
    let kinds = ["login", "view", "view", "cart", "view"];
    let batch: Vec<Event> = (1..=10)
        .map(|n| Event {
            n,
            kind: kinds[n as usize % kinds.len()].to_string(),
        })
        .collect();
    let ids = events.add_batch(&batch).await?;
    println!("added events 1..=10, {} .. {}", ids[0], ids[9]);

    // Range: every entry, then a closed interval of IDs (both ends included).
    let all = events.range(IdRange::all(), None).await?;
    assert_eq!(numbers(&all), (1..=10).collect::<Vec<_>>());
    let between = events.range(IdRange::between(ids[2], ids[5]), None).await?;
    println!(
        "\nrange {}..={}: events {:?}",
        ids[2],
        ids[5],
        numbers(&between)
    );
    assert_eq!(numbers(&between), [3, 4, 5, 6]);

    // Paging: COUNT per call, each page starting strictly after the last ID seen.
    let mut page = events.range(IdRange::all(), Some(4)).await?;
    let mut pages = Vec::new();
    while let Some(last) = page.last().map(|e| e.id) {
        pages.push(numbers(&page));
        page = events.range(IdRange::after(last), Some(4)).await?;
    }
    println!("pages of 4: {pages:?}");
    assert_eq!(pages, [vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10]]);

    // Latest: the newest three, oldest first (rev_range gives them newest first).
    let latest = events.latest(3).await?;
    let newest_first = events.rev_range(IdRange::all(), Some(3)).await?;
    println!(
        "\nlatest(3): {:?}; rev_range(3): {:?}",
        numbers(&latest),
        numbers(&newest_first)
    );
    assert_eq!(numbers(&latest), [8, 9, 10]);
    assert_eq!(numbers(&newest_first), [10, 9, 8]);

    // From an ID: a reader that stopped after event 7 resumes with XREAD from its ID.
    let resumed = events.read_from(ids[6], None, None).await?;
    println!("read_from({}): {:?}", ids[6], numbers(&resumed));
    assert_eq!(numbers(&resumed), [8, 9, 10]);
    let from_start = events.read_from(StreamId::new(0, 0), Some(2), None).await?;
    assert_eq!(numbers(&from_start), [1, 2]);

    // Tail: block until the next entry; a producer adds one 200 ms later.
    let producer = events.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let late = Event {
            n: 11,
            kind: "logout".into(),
        };
        producer.add(&late).await
    });
    let started = Instant::now();
    let tail = events
        .read_from(ids[9], None, Some(Duration::from_secs(5)))
        .await?;
    println!(
        "\ntail after {}: {:?} ({}) after waiting {} ms",
        ids[9],
        numbers(&tail),
        tail.first().map_or("", |e| e.value.kind.as_str()),
        started.elapsed().as_millis()
    );
    assert_eq!(numbers(&tail), [11]);

    // Nothing newer: a short blocking read times out empty.
    let nothing = events
        .read_from(tail[0].id, None, Some(Duration::from_millis(100)))
        .await?;
    println!("tail after {}: nothing within 100 ms", tail[0].id);
    assert!(nothing.is_empty());

    println!("\nok: ranges, pages, latest, resume and tail all read the expected events");
    Ok(())
}

fn numbers(entries: &[Entry<Event>]) -> Vec<u32> {
    entries.iter().map(|e| e.value.n).collect()
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
