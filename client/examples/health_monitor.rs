//! Health monitor: checking a stream and its consumer groups against thresholds, the way a
//! periodic job or a `/health` endpoint would. The report holds the stream's length and ages,
//! each group's pending count and lag, each consumer's idle time, and the list of problems
//! (`Display` gives one line each, for logs and alerts).
//!
//! The example builds an unhealthy stream on purpose (too long, a group with no consumers, a
//! slow consumer sitting on pending entries), reports it, fixes it, and reports again.
//!
//! ```text
//! cargo run -p rill --example health_monitor                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example health_monitor  # a server
//! ```

use std::time::Duration;

use rill::{Client, GroupStart, HealthReport, HealthThresholds, Problem, Trim};
use serde::{Deserialize, Serialize};

const EVENTS: &str = "example:health_monitor:events";
const MISSING: &str = "example:health_monitor:never-written";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Event {
    n: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", EVENTS, MISSING]).await?;

    // What this service tolerates.
    let thresholds = HealthThresholds::default()
        .max_length(15)
        .max_pending(2)
        .max_lag(5)
        .max_consumer_idle(Duration::from_millis(200))
        .max_last_entry_age(Duration::from_secs(3600))
        .require_consumers(true);

    // 20 events; billing's only consumer took 5 and acknowledged 2, then went quiet; audit
    // was created but nobody consumes it.
    let events = client.stream::<Event>(EVENTS);
    events
        .ensure_group("billing", GroupStart::Beginning)
        .await?;
    events.ensure_group("audit", GroupStart::Beginning).await?;
    let all: Vec<Event> = (1..=20).map(|n| Event { n }).collect();
    events.add_batch(&all).await?;
    let taken = events.read_group("billing", "worker-1", 5, None).await?;
    events.ack("billing", &[taken[0].id, taken[1].id]).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let report = events.health(&thresholds).await?;
    print_report(&report);
    assert!(!report.is_healthy());
    assert_eq!(report.length, 20);
    let expected = [
        Problem::TooLong {
            length: 20,
            max: 15,
        },
        Problem::TooManyPending {
            group: "billing".into(),
            pending: 3,
            max: 2,
        },
        Problem::LagTooHigh {
            group: "billing".into(),
            lag: 15,
            max: 5,
        },
        Problem::LagTooHigh {
            group: "audit".into(),
            lag: 20,
            max: 5,
        },
        Problem::NoConsumers {
            group: "audit".into(),
        },
    ];
    for problem in &expected {
        assert!(report.problems.contains(problem), "missing: {problem}");
    }
    let idle = report.problems.iter().any(|p| {
        matches!(p, Problem::ConsumerIdle { group, consumer, .. }
            if group == "billing" && consumer == "worker-1")
    });
    assert!(idle, "worker-1 should be reported idle");
    assert_eq!(report.problems.len(), expected.len() + 1);

    // The fixes: billing catches up and acknowledges, audit gets a consumer, the stream is
    // trimmed to its limit.
    println!("\n--- catching up, acknowledging, trimming ---\n");
    for (group, consumer) in [("billing", "worker-1"), ("audit", "auditor-1")] {
        let pending = events.pending(group).await?;
        let own = events
            .read_own_pending(group, consumer, rill::StreamId::new(0, 0), 100)
            .await?;
        let new = events.read_group(group, consumer, 100, None).await?;
        let ids: Vec<_> = own
            .iter()
            .map(|p| p.id)
            .chain(new.iter().map(|e| e.id))
            .collect();
        events.ack(group, &ids).await?;
        println!(
            "{group}/{consumer}: acknowledged {} ({} were pending)",
            ids.len(),
            pending.count
        );
    }
    let trimmed = events
        .trim(Trim::MaxLen {
            len: 15,
            approx: false,
        })
        .await?;
    println!("trimmed {trimmed} entries");

    let report = events.health(&thresholds).await?;
    print_report(&report);
    assert!(report.is_healthy(), "{:?}", report.problems);
    assert!(report
        .groups
        .iter()
        .all(|g| g.pending == 0 && g.lag == Some(0)));

    // A stream that does not exist is a report too, not an error.
    let missing = client.stream::<Event>(MISSING).health(&thresholds).await?;
    println!(
        "\n{MISSING}: exists {}, problems: {:?}",
        missing.exists, missing.problems
    );
    assert_eq!(missing.problems, [Problem::Missing]);

    println!("\nok: 6 problems found, fixed, and the stream reported healthy");
    Ok(())
}

fn print_report(report: &HealthReport) {
    let ms = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{} ms", d.as_millis()));
    println!(
        "{}: {} entries, oldest {} old, newest {} old",
        report.stream,
        report.length,
        ms(report.first_entry_age),
        ms(report.last_entry_age)
    );
    for group in &report.groups {
        println!(
            "  group {}: pending {}, lag {}, last delivered {}",
            group.name,
            group.pending,
            group.lag.map_or("unknown".to_string(), |l| l.to_string()),
            group.last_delivered_id
        );
        for c in &group.consumers {
            println!(
                "    consumer {}: pending {}, idle {} ms, inactive {}",
                c.name,
                c.pending,
                c.idle.as_millis(),
                c.inactive
                    .map_or("unknown (server before 7.2)".to_string(), |d| format!(
                        "{} ms",
                        d.as_millis()
                    ))
            );
        }
    }
    if report.is_healthy() {
        println!("  healthy");
    }
    for problem in &report.problems {
        println!("  PROBLEM: {problem}");
    }
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
