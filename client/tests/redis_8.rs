//! The client's Redis 8 stream operations (rill-server and the embedded engine; Redis 8.2+ for
//! deletion policies, 8.4+ for claiming reads): delete and trim under a reference policy,
//! acknowledge-and-delete, and a read that reclaims idle work before new work.

use std::time::Duration;

use rill::testing::TestServer;
use rill::{Client, DeleteOutcome, GroupStart, RefPolicy, StreamId, Trim};

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

#[tokio::test]
async fn on_the_embedded_engine() -> rill::Result<()> {
    story(&Client::embedded()).await
}

#[tokio::test]
async fn on_rill_server() -> rill::Result<()> {
    let server = TestServer::start()?;
    story(&Client::connect(&server.url()).await?).await
}
