//! The client on a real Redis Cluster: three redis-server nodes in cluster mode on loopback,
//! formed with `redis-cli --cluster create`. Publishing, groups, the consumer runtime with
//! reclaim and dead letters, multi-stream reads over hash-tagged keys, health, and a
//! partitioned stream whose partitions spread over the three nodes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rill::consumer::Shutdown;
use rill::{Client, GroupStart, HealthThresholds, IdRange, StreamId, WorkerPool};
use rill_tests::cluster::RedisCluster;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    id: u32,
    poison: bool,
}

fn order(id: u32) -> Order {
    Order { id, poison: false }
}

mod common;
use common::{bounded, quick};

#[test]
fn the_client_works_on_a_three_node_redis_cluster() {
    let Some(cluster) = RedisCluster::start(3) else {
        return; // the oracle said why (and fails under RILL_REQUIRE_REDIS=1)
    };
    let runtime = common::runtime();
    runtime.block_on(async {
        let urls = cluster.urls();
        let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
        let client = Client::connect_cluster(&seeds).await.expect("connect");
        // No connection of one's own on a cluster: a MULTI there would not be atomic.
        let refused = client.connection().await.err();
        assert!(
            matches!(refused, Some(rill::Error::Usage(_))),
            "{refused:?}"
        );
        publish_and_read(&client).await;
        groups_by_hand(&client).await;
        consumer_runtime(&client).await;
        several_streams_in_one_slot(&client).await;
        health(&client).await;
        partitioned(&client, &cluster).await;
    });
}

async fn publish_and_read(client: &Client) {
    // Keys on different nodes.
    for key in ["alpha", "beta", "gamma", "delta"] {
        let stream = client.stream::<Order>(key);
        let ids = stream
            .add_batch(&(0..50).map(order).collect::<Vec<_>>())
            .await
            .expect("add_batch");
        assert_eq!(ids.len(), 50);
        assert_eq!(stream.len().await.expect("len"), 50);
        let back = stream.range(IdRange::all(), Some(10)).await.expect("range");
        assert_eq!(back[3].value, order(3));
        // A blocking read on its own connection, woken by a write through the shared one.
        let reader = stream.clone();
        let last = ids[49];
        let tail = tokio::spawn(async move {
            reader
                .read_from(last, None, Some(Duration::from_secs(10)))
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let new = stream.add(&order(99)).await.expect("add");
        let woken = bounded(tail).await.expect("task").expect("read");
        assert_eq!(woken.len(), 1);
        assert_eq!(woken[0].id, new);
    }
}

async fn groups_by_hand(client: &Client) {
    let stream = client.stream::<Order>("by-hand");
    stream.add_batch(&[order(1), order(2)]).await.expect("add");
    stream
        .ensure_group("g", GroupStart::Beginning)
        .await
        .expect("group");
    stream
        .ensure_group("g", GroupStart::Beginning)
        .await
        .expect("again");
    let batch = stream.read_group("g", "c", 10, None).await.expect("read");
    assert_eq!(batch.len(), 2);
    assert_eq!(stream.pending("g").await.expect("pending").count, 2);
    assert_eq!(stream.ack("g", &batch.ids()).await.expect("ack"), 2);
    let groups = stream.groups().await.expect("groups");
    assert_eq!(groups[0].pending, 0);
}

/// Reclaim of a crashed consumer's entries and dead letters of a poison entry.
async fn consumer_runtime(client: &Client) {
    let stream = client.stream::<Order>("jobs");
    let ids = stream
        .add_batch(&(0..20).map(order).collect::<Vec<_>>())
        .await
        .expect("add");
    stream
        .add(&Order {
            id: 20,
            poison: true,
        })
        .await
        .expect("poison");
    stream
        .ensure_group("workers", GroupStart::Beginning)
        .await
        .expect("group");
    // A consumer that takes ten entries and dies holding them.
    let _ = stream
        .read_group("workers", "crashed", 10, None)
        .await
        .expect("read");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let options = quick()
        .claim_idle(Some(Duration::from_millis(100)))
        .max_deliveries(Some(2));
    let pool = WorkerPool::new(&stream, "workers", options).workers(2);
    let metrics = pool.metrics();
    let handler = {
        let (seen, stop, metrics) = (seen.clone(), shutdown.clone(), metrics.clone());
        move |e: rill::Entry<Order>| {
            let (seen, stop, metrics) = (seen.clone(), stop.clone(), metrics.clone());
            async move {
                if e.value.poison {
                    return Err("cannot handle it".to_string());
                }
                seen.lock().push(e.id);
                let m = metrics.snapshot();
                if seen.lock().len() == 20 && m.dead_lettered == 1 {
                    stop.trigger();
                }
                Ok(())
            }
        }
    };
    let watcher = {
        // The last success may come before the dead letter: stop once both happened.
        let (seen, stop, metrics) = (seen.clone(), shutdown.clone(), metrics.clone());
        tokio::spawn(async move {
            while seen.lock().len() < 20 || metrics.snapshot().dead_lettered < 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stop.trigger();
        })
    };
    let summary = bounded(pool.run(handler, shutdown)).await.expect("pool");
    watcher.abort();
    let handled: BTreeSet<StreamId> = seen.lock().iter().copied().collect();
    assert_eq!(handled, ids.iter().copied().collect());
    assert_eq!(summary.metrics.reclaimed, 10);
    assert_eq!(summary.metrics.dead_lettered, 1);
    let letters = stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].deliveries, 2);
    assert_eq!(stream.pending("workers").await.expect("pending").count, 0);
}

/// Streams that share a hash tag share a slot, so one XREAD reads them all.
async fn several_streams_in_one_slot(client: &Client) {
    let eu = client.stream::<Order>("{tenant-7}:eu");
    let us = client.stream::<Order>("{tenant-7}:us");
    eu.add(&order(1)).await.expect("add");
    us.add(&order(2)).await.expect("add");
    let read = client
        .read_streams(&[(&eu, StreamId::MIN), (&us, StreamId::MIN)], None, None)
        .await
        .expect("read_streams");
    let totals: Vec<(String, u32)> = read
        .iter()
        .map(|(key, entries)| (key.clone(), entries.iter().map(|e| e.value.id).sum()))
        .collect();
    assert_eq!(
        totals,
        vec![
            ("{tenant-7}:eu".to_string(), 1),
            ("{tenant-7}:us".to_string(), 2)
        ]
    );
}

async fn health(client: &Client) {
    let stream = client.stream::<Order>("by-hand");
    let report = stream
        .health(&HealthThresholds::default().max_pending(0))
        .await
        .expect("health");
    assert!(report.is_healthy(), "{report:?}");
}

/// Six partitions over three nodes: two on each, every entry consumed once.
async fn partitioned(client: &Client, cluster: &RedisCluster) {
    let orders = client.partitioned::<Order>("orders", 6);
    orders
        .ensure_group("billing", GroupStart::Beginning)
        .await
        .expect("groups");
    let entries: Vec<(String, Order)> = (0..600)
        .map(|i| (format!("customer-{}", i % 37), order(i)))
        .collect();
    let written = orders.add_batch(&entries).await.expect("add_batch");
    assert_eq!(orders.len().await.expect("len"), 600);
    // One customer's orders stay in one partition, in order.
    for (i, (key, _)) in entries.iter().enumerate() {
        assert_eq!(written[i].0, orders.partition_of(key.as_bytes()));
    }
    for addr in cluster.addrs() {
        let mut node = rill_tests::client::Connection::open(addr).expect("node");
        let keys = node.call(&["KEYS", "orders:*"]).expect("KEYS");
        let rill_tests::reply::Reply::Array(keys) = keys else {
            panic!("KEYS answered {keys:?}");
        };
        assert_eq!(keys.len(), 2, "two partitions on {addr}: {keys:?}");
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let pool = orders.worker_pool("billing", quick()).workers(1);
    let handler = {
        let (seen, stop) = (seen.clone(), shutdown.clone());
        move |e: rill::Entry<Order>| {
            let (seen, stop) = (seen.clone(), stop.clone());
            async move {
                let mut seen = seen.lock();
                seen.push(e.value.id);
                if seen.len() == 600 {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let summary = bounded(pool.run(handler, shutdown)).await.expect("pool");
    assert_eq!(summary.metrics.processed, 600);
    let ids: BTreeSet<u32> = seen.lock().iter().copied().collect();
    assert_eq!(ids.len(), 600);
}
