//! Group reads decode entry by entry: the server has already put every delivered entry in the
//! group's pending list, so one the codec cannot read is reported on its own (ID, stored
//! fields, error) beside the others, and can be dead-lettered; it never hides them. Run on
//! the embedded engine and on rill-server over TCP.

use std::time::Duration;

use rill::{Client, Error, GroupStart, IdRange, Reply, StreamId, Undecodable};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    qty: u32,
}

const GROUP: &str = "billing";
const BAD_JSON: &str = "{\"qty\": \"many\"}";

mod common;
use common::backends;

/// `good, bad, good` in `key`, with a group at the beginning; the bad entry's ID.
async fn seed(client: &Client, key: &str) -> StreamId {
    let orders = client.stream::<Order>(key);
    orders.add(&Order { qty: 1 }).await.expect("add");
    let bad = client
        .command(&["XADD", key, "*", "data", BAD_JSON])
        .await
        .expect("xadd");
    orders.add(&Order { qty: 3 }).await.expect("add");
    orders
        .ensure_group(GROUP, GroupStart::Beginning)
        .await
        .expect("group");
    let Reply::Bulk(id) = bad else {
        panic!("XADD answered {bad:?}");
    };
    rill::parse_id(std::str::from_utf8(&id).expect("text")).expect("an ID")
}

fn assert_names(bad: &Undecodable, id: StreamId, deliveries: Option<u64>, backend: &str) {
    assert_eq!(bad.id, id, "{backend}");
    assert_eq!(bad.deliveries, deliveries, "{backend}");
    assert_eq!(bad.fields.len(), 1, "{backend}");
    assert_eq!(bad.fields[0].1.as_ref(), BAD_JSON.as_bytes(), "{backend}");
    assert!(
        matches!(&bad.error, Error::Codec { id: Some(at), .. } if *at == id),
        "{backend}: {:?}",
        bad.error
    );
}

#[tokio::test]
async fn read_group_reports_a_bad_entry_beside_the_good_ones() {
    for (backend, client, _server) in backends().await {
        let bad_id = seed(&client, "orders").await;
        let orders = client.stream::<Order>("orders");
        let batch = orders
            .read_group(GROUP, "w1", 10, None)
            .await
            .expect("read");
        let qty: Vec<u32> = batch.iter().map(|e| e.value.qty).collect();
        assert_eq!(qty, vec![1, 3], "{backend}: the good entries are decoded");
        assert_eq!(batch.undecodable.len(), 1, "{backend}");
        assert_names(&batch.undecodable[0], bad_id, Some(1), backend);
        assert_eq!(batch.ids().len(), 3, "{backend}");
        assert_eq!(
            orders.pending(GROUP).await.expect("pending").count,
            3,
            "{backend}: all three were delivered"
        );

        // The bad one goes to the dead-letter stream and leaves the PEL in one step.
        orders
            .dead_letter(GROUP, "w1", &batch.undecodable[0], None)
            .await
            .expect("dead letter");
        let letters = orders
            .dead_letters(None, IdRange::all(), None)
            .await
            .expect("letters");
        assert_eq!(letters.len(), 1, "{backend}");
        assert_eq!(letters[0].entry_id, bad_id, "{backend}");
        assert_eq!(letters[0].deliveries, 1, "{backend}");
        assert_eq!(letters[0].fields, batch.undecodable[0].fields, "{backend}");
        let ids: Vec<StreamId> = batch.iter().map(|e| e.id).collect();
        orders.ack(GROUP, &ids).await.expect("ack");
        assert_eq!(orders.pending(GROUP).await.expect("pending").count, 0);
    }
}

#[tokio::test]
async fn claims_report_a_bad_entry_beside_the_good_ones() {
    for (backend, client, _server) in backends().await {
        let bad_id = seed(&client, "orders").await;
        let orders = client.stream::<Order>("orders");
        let first = orders
            .read_group(GROUP, "crashed", 10, None)
            .await
            .expect("read");
        let ids = first.ids();

        // XCLAIM: the good two and the bad one, apart; its delivery count is not in the reply.
        let claimed = orders
            .claim(GROUP, "w2", Duration::ZERO, &ids)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 2, "{backend}");
        assert_eq!(claimed.undecodable.len(), 1, "{backend}");
        assert_names(&claimed.undecodable[0], bad_id, None, backend);

        // XAUTOCLAIM: the same, and the scan goes on to its end.
        let auto = orders
            .autoclaim(GROUP, "w3", Duration::ZERO, StreamId::MIN, 10)
            .await
            .expect("autoclaim");
        assert_eq!(auto.next, StreamId::MIN, "{backend}");
        assert_eq!(auto.claimed.len(), 2, "{backend}");
        assert_names(&auto.claimed.undecodable[0], bad_id, None, backend);

        // Dead-lettering it looks its delivery count up: read, XCLAIM, XAUTOCLAIM.
        orders
            .dead_letter(
                GROUP,
                "w3",
                &auto.claimed.undecodable[0],
                Some("orders:poison"),
            )
            .await
            .expect("dead letter");
        let letters = orders
            .dead_letters(Some("orders:poison"), IdRange::all(), None)
            .await
            .expect("letters");
        assert_eq!(letters.len(), 1, "{backend}");
        assert_eq!(letters[0].deliveries, 3, "{backend}");
        assert_eq!(letters[0].consumer, "w3", "{backend}");
        let pending = orders.pending(GROUP).await.expect("pending");
        assert_eq!(pending.count, 2, "{backend}: the letter took its entry out");
    }
}

#[tokio::test]
async fn claiming_reads_report_a_bad_entry_with_its_delivery_count() {
    for (backend, client, _server) in backends().await {
        let bad_id = seed(&client, "orders").await;
        let orders = client.stream::<Order>("orders");
        let _ = orders
            .read_group(GROUP, "crashed", 10, None)
            .await
            .expect("read");
        let again = orders
            .read_group_claiming(GROUP, "w2", 10, Duration::ZERO, None)
            .await
            .expect("claiming read");
        let qty: Vec<u32> = again.iter().map(|d| d.entry.value.qty).collect();
        assert_eq!(qty, vec![1, 3], "{backend}");
        assert_eq!(again.undecodable.len(), 1, "{backend}");
        assert_names(&again.undecodable[0], bad_id, Some(2), backend);
        // Reads that move nothing into a PEL keep failing as a whole.
        let range = orders.range(IdRange::all(), None).await;
        assert!(
            matches!(range, Err(Error::Codec { id: Some(at), .. }) if at == bad_id),
            "{backend}: {range:?}"
        );
    }
}
