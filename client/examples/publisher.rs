//! Publisher: appending entries to a stream. One at a time, a batch in one round trip, with
//! explicit IDs (imports that keep their own timestamps), capped on write (`XADD MAXLEN`), and
//! with each codec: JSON (the default), MessagePack, and flat fields that `redis-cli` reads.
//!
//! ```text
//! cargo run -p rill --example publisher                                   # embedded engine
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example publisher  # rill-server or Redis
//! ```

use rill::codec::{Flat, Json, MessagePack};
use rill::{Client, IdRange, Reply, Stream, StreamId, Trim};
use serde::{Deserialize, Serialize};

const ORDERS: &str = "example:publisher:orders";
const IMPORTED: &str = "example:publisher:imported";
const RECENT: &str = "example:publisher:recent";
const JSON: &str = "example:publisher:codec-json";
const MSGPACK: &str = "example:publisher:codec-msgpack";
const FLAT: &str = "example:publisher:codec-flat";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    item: String,
    qty: u32,
}

fn order(item: &str, qty: u32) -> Order {
    Order {
        item: item.to_string(),
        qty,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client
        .command(&["DEL", ORDERS, IMPORTED, RECENT, JSON, MSGPACK, FLAT])
        .await?;

    // One entry: the server picks the ID (`<unix ms>-<seq>`).
    let orders = client.stream::<Order>(ORDERS);
    let first = orders.add(&order("book", 1)).await?;
    println!("\nadd: {first}");

    // A batch: one round trip (a pipeline over TCP), IDs in order.
    let batch = vec![order("pen", 3), order("lamp", 1), order("mug", 2)];
    let ids = orders.add_batch(&batch).await?;
    println!("add_batch: {}", join(&ids));
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && first < ids[0]);
    assert_eq!(orders.len().await?, 4);

    // Explicit IDs: events imported from elsewhere keep their own timestamps. IDs must grow,
    // and the server refuses one that does not.
    let imported = client.stream::<Order>(IMPORTED);
    let at = StreamId::new(1_700_000_000_000, 0); // 2023-11-14T22:13:20Z
    imported.add_with(&order("desk", 1), Some(at), None).await?;
    let same_ms = StreamId::new(at.ms, 1);
    imported
        .add_with(&order("chair", 4), Some(same_ms), None)
        .await?;
    println!("\nadd_with explicit IDs: {at}, {same_ms}");
    let older = StreamId::new(at.ms - 1, 0);
    match imported
        .add_with(&order("stool", 1), Some(older), None)
        .await
    {
        Ok(id) => return Err(format!("an older ID was accepted: {id}").into()),
        Err(e) => {
            println!("add_with {older} refused: {e}");
            assert_eq!(e.code(), Some("ERR"));
        }
    }
    assert_eq!(imported.len().await?, 2);

    // Capped on write: MAXLEN = 5 in the same XADD, so the stream never holds more than five.
    let recent = client.stream::<Order>(RECENT);
    for qty in 1..=8 {
        let cap = Trim::MaxLen {
            len: 5,
            approx: false,
        };
        recent
            .add_with(&order("ticket", qty), None, Some(cap))
            .await?;
    }
    let kept: Vec<u32> = recent
        .range(IdRange::all(), None)
        .await?
        .into_iter()
        .map(|e| e.value.qty)
        .collect();
    println!("\n8 adds with MAXLEN = 5 kept qty {kept:?}");
    assert_eq!(kept, [4, 5, 6, 7, 8]);

    // Codecs: the same value three ways. Flat fields are what other languages and redis-cli
    // read without knowing Rust; JSON and MessagePack keep the value in one `data` field.
    println!();
    let lamp = order("lamp", 2);
    let streams: [(&str, Stream<Order>); 3] = [
        ("Json", client.stream(JSON).with_codec(Json)),
        (
            "MessagePack",
            client.stream(MSGPACK).with_codec(MessagePack),
        ),
        ("Flat", client.stream(FLAT).with_codec(Flat)),
    ];
    for (name, stream) in streams {
        stream.add(&lamp).await?;
        let back = stream.range(IdRange::all(), None).await?;
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].value, lamp, "{name} round trip");
        let raw = client.command(&["XRANGE", stream.key(), "-", "+"]).await?;
        println!("{name}: XRANGE shows {}", raw_fields(&raw));
    }
    let flat = client.command(&["XRANGE", FLAT, "-", "+"]).await?;
    assert_eq!(raw_fields(&flat), "item=lamp qty=2");

    println!("\nok: 4 orders, 2 imported, 5 recent, 3 codecs round-tripped");
    Ok(())
}

/// The fields of the first entry of an XRANGE reply, as `field=value` (binary values as a
/// byte count).
fn raw_fields(reply: &Reply) -> String {
    let Reply::Array(entries) = reply else {
        return format!("{reply:?}");
    };
    let Some(Reply::Array(entry)) = entries.first() else {
        return "no entry".into();
    };
    let Some(Reply::Array(fields)) = entry.get(1) else {
        return format!("{entry:?}");
    };
    let text = |r: &Reply| match r {
        Reply::Bulk(b) => match std::str::from_utf8(b) {
            Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
            _ => format!("<{} bytes>", b.len()),
        },
        other => format!("{other:?}"),
    };
    fields
        .chunks(2)
        .map(|pair| {
            format!(
                "{}={}",
                text(&pair[0]),
                pair.get(1).map_or(String::new(), text)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn join(ids: &[StreamId]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
