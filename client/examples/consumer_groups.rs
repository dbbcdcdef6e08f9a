//! Consumer groups, by hand: the XREADGROUP / XACK / XPENDING cycle under the consumer runtime.
//! Two groups each see every entry (fan-out); within a group, consumers share the entries
//! (each goes to one of them); unacknowledged entries wait in the pending list until a restart
//! re-reads them; a group can be rewound to replay the stream.
//!
//! For the runtime that does all of this for you (retries, reclaim, dead letters), see the
//! `worker_pool`, `reclaim_dead_letter` and `metrics` examples.
//!
//! ```text
//! cargo run -p rill --example consumer_groups                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example consumer_groups  # a server
//! ```

use std::time::Duration;

use rill::{Client, Entry, GroupStart, PendingQuery};
use serde::{Deserialize, Serialize};

const ORDERS: &str = "example:consumer_groups:orders";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    n: u32,
    item: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", ORDERS]).await?;

    // Groups: `ensure_group` creates the group (and the stream) unless it exists, so every
    // process can call it at start; `create_group` on an existing one is BUSYGROUP.
    let orders = client.stream::<Order>(ORDERS);
    orders
        .ensure_group("billing", GroupStart::Beginning)
        .await?;
    orders
        .ensure_group("billing", GroupStart::Beginning)
        .await?;
    orders
        .ensure_group("shipping", GroupStart::Beginning)
        .await?;
    let again = orders
        .create_group("billing", GroupStart::Beginning, false)
        .await;
    assert!(again.as_ref().is_err_and(|e| e.is_busy_group()));
    println!("groups billing and shipping ready (creating billing again: BUSYGROUP)");

    let items = ["book", "pen", "lamp", "mug", "desk", "chair"];
    let batch: Vec<Order> = (1..=6)
        .map(|n| Order {
            n,
            item: items[n as usize - 1].to_string(),
        })
        .collect();
    orders.add_batch(&batch).await?;

    // Within billing, alice and bob share the entries: each is delivered to one of them.
    let alice = orders.read_group("billing", "alice", 3, None).await?;
    let bob = orders.read_group("billing", "bob", 10, None).await?;
    println!(
        "\nbilling: alice got {:?}, bob got {:?}",
        ns(&alice),
        ns(&bob)
    );
    assert_eq!(ns(&alice), [1, 2, 3]);
    assert_eq!(ns(&bob), [4, 5, 6]);

    // Shipping is another group: it sees every entry too.
    let carol = orders.read_group("shipping", "carol", 10, None).await?;
    println!("shipping: carol got {:?}", ns(&carol));
    assert_eq!(ns(&carol), [1, 2, 3, 4, 5, 6]);

    // Delivered entries are pending until acknowledged.
    let pending = orders.pending("billing").await?;
    println!(
        "\nbilling pending: {} entries, per consumer {:?}",
        pending.count, pending.consumers
    );
    assert_eq!(pending.count, 6);
    assert_eq!(
        pending.consumers,
        [("alice".to_string(), 3), ("bob".to_string(), 3)]
    );

    // alice acknowledges all of hers; bob only his first, then "crashes".
    let acked = orders.ack("billing", &ids(&alice)).await?;
    orders.ack("billing", &[bob[0].id]).await?;
    println!("alice acked {acked}, bob acked 1 and crashed");
    let query = PendingQuery {
        consumer: Some("bob".into()),
        ..PendingQuery::default()
    };
    for p in orders.pending_entries("billing", &query).await? {
        println!(
            "  pending {} held by {} for {} ms, delivered {} time(s)",
            p.id,
            p.consumer,
            p.idle.as_millis(),
            p.deliveries
        );
    }

    // bob restarts under the same name: he first re-reads his own pending entries (from 0),
    // which counts another delivery, and acknowledges them once handled.
    let recovered = orders
        .read_own_pending("billing", "bob", rill::StreamId::new(0, 0), 10)
        .await?;
    let recovered_ids: Vec<_> = recovered.iter().map(|p| p.id).collect();
    let recovered_ns: Vec<u32> = recovered
        .iter()
        .filter_map(|p| p.value.as_ref().map(|o| o.n))
        .collect();
    println!("bob restarted and recovered {recovered_ns:?} from his pending list");
    assert_eq!(recovered_ns, [5, 6]);
    let after = orders.pending_entries("billing", &query).await?;
    assert!(after.iter().all(|p| p.deliveries == 2));
    orders.ack("billing", &recovered_ids).await?;
    assert_eq!(orders.pending("billing").await?.count, 0);

    // A blocking group read wakes when a new entry comes.
    let producer = orders.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let late = Order {
            n: 7,
            item: "rug".into(),
        };
        producer.add(&late).await
    });
    let waited = orders
        .read_group("billing", "alice", 10, Some(Duration::from_secs(5)))
        .await?;
    println!("\nalice blocked and got {:?}", ns(&waited));
    assert_eq!(ns(&waited), [7]);
    orders.ack("billing", &ids(&waited)).await?;

    // What the server knows about the groups and their consumers.
    println!();
    for g in orders.groups().await? {
        println!(
            "group {}: consumers {}, pending {}, last delivered {}, entries read {:?}, lag {:?}",
            g.name, g.consumers, g.pending, g.last_delivered_id, g.entries_read, g.lag
        );
        if g.name == "billing" {
            assert_eq!((g.pending, g.lag), (0, Some(0)));
        } else {
            assert_eq!((g.pending, g.lag), (6, Some(1)));
        }
    }
    for c in orders.consumers("billing").await? {
        let inactive = c
            .inactive
            .map_or("unknown (server before 7.2)".into(), |d| {
                format!("{} ms", d.as_millis())
            });
        println!(
            "billing consumer {}: {} pending, idle {} ms, inactive {inactive}",
            c.name,
            c.pending,
            c.idle.as_millis()
        );
    }

    // Replay: rewind billing to the beginning; the next read delivers every entry again.
    orders
        .set_group_id("billing", GroupStart::Beginning)
        .await?;
    let replay = orders.read_group("billing", "auditor", 100, None).await?;
    println!("\nbilling rewound: auditor replays {:?}", ns(&replay));
    assert_eq!(ns(&replay), [1, 2, 3, 4, 5, 6, 7]);
    orders.ack("billing", &ids(&replay)).await?;

    // Cleaning up: deleting a consumer drops its pending entries; then the group itself.
    let dropped = orders.delete_consumer("shipping", "carol").await?;
    let destroyed = orders.destroy_group("shipping").await?;
    println!("deleted carol ({dropped} pending dropped), destroyed shipping: {destroyed}");
    assert_eq!(dropped, 6);
    assert!(destroyed);
    let gone = orders.read_group("shipping", "carol", 1, None).await;
    assert!(gone.as_ref().is_err_and(|e| e.is_no_group()));
    println!("reading from shipping now: NOGROUP");

    println!("\nok: fan-out across groups, sharing within a group, pending, recovery, replay");
    Ok(())
}

fn ns(entries: &[Entry<Order>]) -> Vec<u32> {
    entries.iter().map(|e| e.value.n).collect()
}

fn ids(entries: &[Entry<Order>]) -> Vec<rill::StreamId> {
    entries.iter().map(|e| e.id).collect()
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
