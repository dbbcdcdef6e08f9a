//! `Stream::health`: what the report shows, and each problem it detects against thresholds.

use std::time::Duration;

use rill::{Client, GroupStart, HealthThresholds, Problem, Stream, StreamId};

type Result = std::result::Result<(), rill::Error>;

/// Every check off, including `require_consumers`: tests turn on the one they are about.
fn no_checks() -> HealthThresholds {
    HealthThresholds::default().require_consumers(false)
}

/// A stream with `n` entries.
async fn stream_with(client: &Client, key: &str, n: usize) -> rill::Result<Stream<String>> {
    let stream = client.stream::<String>(key);
    for i in 0..n {
        stream.add(&format!("entry {i}")).await?;
    }
    Ok(stream)
}

#[tokio::test]
async fn healthy_stream_reports_its_figures_and_no_problems() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "orders", 3).await?;
    stream
        .ensure_group("billing", GroupStart::Beginning)
        .await?;
    let read = stream.read_group("billing", "worker-1", 10, None).await?;
    stream.ack("billing", &[read[0].id, read[1].id]).await?;

    let thresholds = HealthThresholds::default()
        .max_length(3)
        .max_pending(1)
        .max_lag(0)
        .max_consumer_idle(Duration::from_secs(3600))
        .max_last_entry_age(Duration::from_secs(3600));
    let report = stream.health(&thresholds).await?;

    assert!(report.is_healthy(), "{:?}", report.problems);
    assert_eq!(report.stream, "orders");
    assert!(report.exists);
    assert_eq!(report.length, 3);
    assert_eq!(report.first_entry_id, Some(read[0].id));
    assert_eq!(report.last_entry_id, Some(read[2].id));
    let hour = Duration::from_secs(3600);
    assert!(report.first_entry_age.is_some_and(|a| a < hour));
    assert!(report.last_entry_age.is_some_and(|a| a < hour));

    let [group] = report.groups.as_slice() else {
        panic!("one group expected: {:?}", report.groups);
    };
    assert_eq!(group.name, "billing");
    assert_eq!(group.pending, 1);
    assert_eq!(group.lag, Some(0));
    assert_eq!(group.last_delivered_id, read[2].id);
    let [consumer] = group.consumers.as_slice() else {
        panic!("one consumer expected: {:?}", group.consumers);
    };
    assert_eq!(consumer.name, "worker-1");
    assert_eq!(consumer.pending, 1);
    assert!(consumer.idle < hour);
    Ok(())
}

#[tokio::test]
async fn empty_stream_has_no_entries_and_no_ages() -> Result {
    let client = Client::embedded();
    let stream = client.stream::<String>("empty");
    stream.ensure_group("g", GroupStart::NewOnly).await?;

    let report = stream
        .health(&no_checks().max_last_entry_age(Duration::from_millis(1)))
        .await?;
    assert!(report.exists);
    assert_eq!(report.length, 0);
    assert_eq!(report.first_entry_id, None);
    assert_eq!(report.last_entry_age, None);
    // Never written to: nothing to be stale about.
    assert!(report.is_healthy(), "{:?}", report.problems);
    Ok(())
}

#[tokio::test]
async fn too_long_above_max_length_only() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 3).await?;

    let report = stream.health(&no_checks().max_length(2)).await?;
    assert_eq!(report.problems, [Problem::TooLong { length: 3, max: 2 }]);
    assert!(!report.is_healthy());

    let at_limit = stream.health(&no_checks().max_length(3)).await?;
    assert!(at_limit.is_healthy(), "{:?}", at_limit.problems);
    Ok(())
}

#[tokio::test]
async fn too_many_pending_counts_unacknowledged_entries() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 3).await?;
    stream.ensure_group("g", GroupStart::Beginning).await?;
    let _ = stream.read_group("g", "c", 10, None).await?;

    let report = stream.health(&no_checks().max_pending(2)).await?;
    assert_eq!(
        report.problems,
        [Problem::TooManyPending {
            group: "g".into(),
            pending: 3,
            max: 2
        }]
    );
    assert_eq!(report.groups[0].consumers[0].pending, 3);
    Ok(())
}

#[tokio::test]
async fn group_without_consumers_is_a_problem_by_default() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 1).await?;
    stream
        .ensure_group("idle-group", GroupStart::Beginning)
        .await?;

    let report = stream.health(&HealthThresholds::default()).await?;
    assert_eq!(
        report.problems,
        [Problem::NoConsumers {
            group: "idle-group".into()
        }]
    );
    assert!(report.groups[0].consumers.is_empty());

    let allowed = stream
        .health(&HealthThresholds::default().require_consumers(false))
        .await?;
    assert!(allowed.is_healthy(), "{:?}", allowed.problems);
    Ok(())
}

#[tokio::test]
async fn consumer_idle_longer_than_max() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 1).await?;
    stream.ensure_group("g", GroupStart::Beginning).await?;
    let _ = stream.read_group("g", "sleepy", 10, None).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let max = Duration::from_millis(1);
    let report = stream.health(&no_checks().max_consumer_idle(max)).await?;
    let [Problem::ConsumerIdle {
        group,
        consumer,
        idle,
        max: reported_max,
    }] = report.problems.as_slice()
    else {
        panic!("one ConsumerIdle expected: {:?}", report.problems);
    };
    assert_eq!((group.as_str(), consumer.as_str()), ("g", "sleepy"));
    assert!(*idle > max);
    assert_eq!(*idle, report.groups[0].consumers[0].idle);
    assert_eq!(*reported_max, max);

    let generous = stream
        .health(&no_checks().max_consumer_idle(Duration::from_secs(3600)))
        .await?;
    assert!(generous.is_healthy(), "{:?}", generous.problems);
    Ok(())
}

#[tokio::test]
async fn lag_too_high_counts_undelivered_entries() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 3).await?;
    stream.ensure_group("g", GroupStart::Beginning).await?;
    let _ = stream.read_group("g", "c", 1, None).await?;

    let report = stream.health(&no_checks().max_lag(1)).await?;
    assert_eq!(report.groups[0].lag, Some(2));
    assert_eq!(
        report.problems,
        [Problem::LagTooHigh {
            group: "g".into(),
            lag: 2,
            max: 1
        }]
    );

    let at_limit = stream.health(&no_checks().max_lag(2)).await?;
    assert!(at_limit.is_healthy(), "{:?}", at_limit.problems);
    Ok(())
}

#[tokio::test]
async fn unknown_lag_is_a_problem_only_when_lag_is_checked() -> Result {
    let client = Client::embedded();
    let stream = client.stream::<String>("s");
    let ids = stream
        .add_batch(&["a".to_string(), "b".to_string(), "c".to_string()])
        .await?;
    stream.ensure_group("g", GroupStart::Beginning).await?;
    // A tombstone after the group's position: the server can no longer count its lag.
    stream.delete(&[ids[1]]).await?;

    let unchecked = stream.health(&no_checks()).await?;
    assert_eq!(unchecked.groups[0].lag, None);
    assert!(unchecked.is_healthy(), "{:?}", unchecked.problems);

    let checked = stream.health(&no_checks().max_lag(100)).await?;
    assert_eq!(
        checked.problems,
        [Problem::LagUnknown { group: "g".into() }]
    );
    Ok(())
}

#[tokio::test]
async fn stale_when_the_last_entry_is_old() -> Result {
    let client = Client::embedded();
    let stream = client.stream::<String>("s");
    // IDs carry Unix milliseconds: 1000-0 was added in 1970.
    let old = StreamId::new(1000, 0);
    stream.add_with(&"old".to_string(), Some(old), None).await?;

    let max = Duration::from_secs(3600);
    let report = stream.health(&no_checks().max_last_entry_age(max)).await?;
    let fifty_years = Duration::from_secs(50 * 365 * 24 * 3600);
    assert!(report.last_entry_age.is_some_and(|a| a > fifty_years));
    assert_eq!(report.first_entry_age, report.last_entry_age);
    let [Problem::Stale { age, max: m }] = report.problems.as_slice() else {
        panic!("one Stale expected: {:?}", report.problems);
    };
    assert!(*age > fifty_years);
    assert_eq!(*m, max);

    // A fresh entry makes the stream live again.
    stream.add(&"new".to_string()).await?;
    let fresh = stream.health(&no_checks().max_last_entry_age(max)).await?;
    assert!(fresh.is_healthy(), "{:?}", fresh.problems);
    Ok(())
}

#[tokio::test]
async fn stale_counts_the_last_write_even_once_deleted() -> Result {
    let client = Client::embedded();
    let stream = client.stream::<String>("s");
    let old = StreamId::new(1000, 0);
    stream.add_with(&"old".to_string(), Some(old), None).await?;
    stream.delete(&[old]).await?;

    let report = stream
        .health(&no_checks().max_last_entry_age(Duration::from_secs(3600)))
        .await?;
    assert_eq!(report.length, 0);
    assert_eq!(report.last_entry_age, None);
    assert!(
        matches!(report.problems.as_slice(), [Problem::Stale { .. }]),
        "{:?}",
        report.problems
    );
    Ok(())
}

#[tokio::test]
async fn several_problems_are_all_listed() -> Result {
    let client = Client::embedded();
    let stream = stream_with(&client, "s", 5).await?;
    stream.ensure_group("a", GroupStart::Beginning).await?;
    stream.ensure_group("b", GroupStart::Beginning).await?;
    let _ = stream.read_group("a", "c", 5, None).await?;

    let thresholds = HealthThresholds::default()
        .max_length(4)
        .max_pending(4)
        .max_lag(4);
    let report = stream.health(&thresholds).await?;
    assert_eq!(
        report.problems,
        [
            Problem::TooLong { length: 5, max: 4 },
            Problem::TooManyPending {
                group: "a".into(),
                pending: 5,
                max: 4
            },
            Problem::LagTooHigh {
                group: "b".into(),
                lag: 5,
                max: 4
            },
            Problem::NoConsumers { group: "b".into() },
        ]
    );
    Ok(())
}

#[tokio::test]
async fn missing_stream_is_a_report_not_an_error() -> Result {
    let client = Client::embedded();
    let report = client
        .stream::<String>("nowhere")
        .health(&HealthThresholds::default())
        .await?;
    assert_eq!(report.stream, "nowhere");
    assert!(!report.exists);
    assert_eq!(report.length, 0);
    assert!(report.groups.is_empty());
    assert_eq!(report.problems, [Problem::Missing]);
    assert!(!report.is_healthy());
    Ok(())
}

#[tokio::test]
async fn key_of_another_type_is_an_error() -> Result {
    let client = Client::embedded();
    client.command(&["SET", "text", "hello"]).await?;
    let err = client
        .stream::<String>("text")
        .health(&HealthThresholds::default())
        .await
        .expect_err("WRONGTYPE expected");
    assert!(err.is_wrong_type(), "{err}");
    Ok(())
}

#[test]
fn problems_read_as_one_line_each() {
    let ms = Duration::from_millis;
    let cases = [
        (Problem::Missing, "the stream does not exist"),
        (
            Problem::TooLong {
                length: 12,
                max: 10,
            },
            "12 entries, more than the maximum of 10",
        ),
        (
            Problem::TooManyPending {
                group: "billing".into(),
                pending: 7,
                max: 5,
            },
            "group billing has 7 pending entries, more than the maximum of 5",
        ),
        (
            Problem::NoConsumers {
                group: "billing".into(),
            },
            "group billing has no consumers",
        ),
        (
            Problem::ConsumerIdle {
                group: "billing".into(),
                consumer: "w1".into(),
                idle: Duration::from_micros(1_500_900),
                max: ms(1000),
            },
            "consumer w1 of group billing idle for 1.5s, more than the maximum of 1s",
        ),
        (
            Problem::LagTooHigh {
                group: "billing".into(),
                lag: 300,
                max: 100,
            },
            "group billing lags 300 entries behind, more than the maximum of 100",
        ),
        (
            Problem::LagUnknown {
                group: "billing".into(),
            },
            "group billing has an unknown lag (entries deleted after its position)",
        ),
        (
            Problem::Stale {
                age: ms(7_200_000),
                max: ms(250),
            },
            "last entry added 7200s ago, more than the maximum of 250ms",
        ),
    ];
    for (problem, text) in cases {
        assert_eq!(problem.to_string(), text);
    }
}

/// The same report through a real server and the `redis` crate: replies parse the same, a
/// missing key and WRONGTYPE are told apart over RESP too.
#[test]
fn over_tcp_through_rill_server() -> Result {
    // The server runs its own runtime: start it outside the test's.
    let server = rill::testing::TestServer::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(rill::Error::connection_caused_by)?;
    runtime.block_on(async {
        let client = Client::connect(&server.url()).await?;
        let stream = stream_with(&client, "orders", 3).await?;
        stream
            .ensure_group("billing", GroupStart::Beginning)
            .await?;
        stream.ensure_group("audit", GroupStart::Beginning).await?;
        let _ = stream.read_group("billing", "worker-1", 2, None).await?;

        let thresholds = HealthThresholds::default().max_pending(1).max_lag(0);
        let report = stream.health(&thresholds).await?;
        assert!(report.exists);
        assert_eq!(report.length, 3);
        let billing = report.groups.iter().find(|g| g.name == "billing");
        let billing = billing.expect("billing group");
        assert_eq!((billing.pending, billing.lag), (2, Some(1)));
        assert_eq!(billing.consumers[0].name, "worker-1");
        assert_eq!(
            report.problems,
            // Groups come in the server's order: by name.
            [
                Problem::LagTooHigh {
                    group: "audit".into(),
                    lag: 3,
                    max: 0
                },
                Problem::NoConsumers {
                    group: "audit".into()
                },
                Problem::TooManyPending {
                    group: "billing".into(),
                    pending: 2,
                    max: 1
                },
                Problem::LagTooHigh {
                    group: "billing".into(),
                    lag: 1,
                    max: 0
                },
            ]
        );

        let missing = client
            .stream::<String>("nowhere")
            .health(&thresholds)
            .await?;
        assert_eq!(missing.problems, [Problem::Missing]);

        client.command(&["SET", "text", "hello"]).await?;
        let err = client
            .stream::<String>("text")
            .health(&thresholds)
            .await
            .expect_err("WRONGTYPE expected");
        assert!(err.is_wrong_type(), "{err}");
        Ok(())
    })
}
