//! The client's Redis 8 stream operations (rill-server and the embedded engine; Redis 8.2+ for
//! deletion policies, 8.4+ for claiming reads): delete and trim under a reference policy,
//! acknowledge-and-delete, a read that reclaims idle work before new work; 8.6+ for
//! idempotent production, 8.8+ for handing work back with XNACK.

use std::time::Duration;

use rill::testing::TestServer;
use rill::{Client, DeleteOutcome, GroupStart, NackMode, RefPolicy, StreamId, Trim};

/// The same story on one backend.
async fn story(client: &Client) -> rill::Result<()> {
    let jobs = client.stream::<String>("jobs");
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(jobs.add(&format!("job {i}")).await?);
    }
    jobs.ensure_group("workers", GroupStart::Beginning).await?;
    let first = jobs.read_group("workers", "alice", 2, None).await?;
    assert_eq!(first.len(), 2);

    // ACKED keeps what the group still needs: all four (two pending, two undelivered).
    assert_eq!(
        jobs.delete_with(&ids[..1], RefPolicy::Acked).await?,
        vec![DeleteOutcome::StillReferenced]
    );
    // Acknowledge-and-delete: the first job is done and gone; an unknown ID is not found.
    let done = jobs
        .ack_and_delete(
            "workers",
            &[ids[0], StreamId::new(1, 1)],
            RefPolicy::KeepRef,
        )
        .await?;
    assert_eq!(done, vec![DeleteOutcome::Deleted, DeleteOutcome::NotFound]);
    assert_eq!(jobs.len().await?, 3);

    // Alice stalls on job 1; bob's claiming read takes it over before the new jobs.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let got = jobs
        .read_group_claiming("workers", "bob", 10, Duration::from_millis(10), None)
        .await?;
    let kinds: Vec<(StreamId, Option<bool>, u64)> = got
        .iter()
        .map(|d| {
            (
                d.entry.id,
                d.idle.map(|i| i >= Duration::from_millis(10)),
                d.previous_deliveries,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ids[1], Some(true), 1),
            (ids[2], None, 0),
            (ids[3], None, 0)
        ]
    );
    assert_eq!(got[0].entry.value, "job 1");

    // Trimming under ACKED leaves what is still pending.
    jobs.ack("workers", &[ids[1]]).await?;
    let removed = jobs
        .trim_with(
            Trim::MaxLen {
                len: 0,
                approx: false,
            },
            RefPolicy::Acked,
        )
        .await?;
    assert_eq!(removed, 1);
    assert_eq!(jobs.len().await?, 2);
    // DELREF deletes and drops the pending entries with them.
    jobs.delete_with(&ids[2..], RefPolicy::DelRef).await?;
    assert_eq!(jobs.pending("workers").await?.count, 0);
    Ok(())
}

/// A producer retries after lost replies; a worker fails a job and hands it back.
async fn exactly_once_and_nack(client: &Client) -> rill::Result<()> {
    let orders = client.stream::<String>("orders");
    let first = orders
        .add_idempotent("shop-1", b"order-17", &"17".into())
        .await?;
    let retry = orders
        .add_idempotent("shop-1", b"order-17", &"17".into())
        .await?;
    assert_eq!(retry, first);
    let auto = orders.add_idempotent_auto("shop-2", &"18".into()).await?;
    assert_eq!(
        orders.add_idempotent_auto("shop-2", &"18".into()).await?,
        auto
    );
    assert_ne!(
        orders.add_idempotent_auto("shop-2", &"19".into()).await?,
        auto
    );
    assert_eq!(orders.len().await?, 3);
    orders
        .configure_idempotency(Some(Duration::from_secs(600)), Some(1000))
        .await?;
    // The change forgot what was remembered: the same iid adds again.
    assert_ne!(
        orders
            .add_idempotent("shop-1", b"order-17", &"17".into())
            .await?,
        first
    );

    orders
        .ensure_group("billing", GroupStart::Beginning)
        .await?;
    let got = orders.read_group("billing", "alice", 1, None).await?;
    assert_eq!(got[0].id, first);
    assert_eq!(orders.nack("billing", NackMode::Fail, &[first]).await?, 1);
    // Another worker takes it at once, whatever idle time it asks for.
    let taken = orders
        .read_group_claiming("billing", "bob", 1, Duration::from_secs(3600), None)
        .await?;
    assert_eq!(taken[0].entry.id, first);
    assert_eq!(taken[0].previous_deliveries, 1);
    Ok(())
}

#[tokio::test]
async fn on_the_embedded_engine() -> rill::Result<()> {
    let client = Client::embedded();
    story(&client).await?;
    exactly_once_and_nack(&client).await
}

#[tokio::test]
async fn on_rill_server() -> rill::Result<()> {
    let server = TestServer::start()?;
    let client = Client::connect(&server.url()).await?;
    story(&client).await?;
    exactly_once_and_nack(&client).await
}
