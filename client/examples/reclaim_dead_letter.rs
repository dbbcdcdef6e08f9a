//! Reclaim and dead letter: a worker reads tasks and crashes before acknowledging them; they
//! stay in its pending list. A second worker's consumer runtime takes them over once they have
//! been idle for `claim_idle` (XAUTOCLAIM), handles them, and gives up on a poison task after
//! `max_deliveries` attempts: the task goes to the dead-letter stream `<stream>:dead` with the
//! metadata needed to investigate or replay it, and is acknowledged.
//!
//! ```text
//! cargo run -p rill --example reclaim_dead_letter                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example reclaim_dead_letter  # a server
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::{Client, ConsumerOptions, Entry, GroupStart, IdRange, PendingQuery, Shutdown};
use serde::{Deserialize, Serialize};

const TASKS: &str = "example:reclaim_dead_letter:tasks";
const DEAD: &str = "example:reclaim_dead_letter:tasks:dead";
const GROUP: &str = "mailers";
const CLAIM_IDLE: Duration = Duration::from_millis(300);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Task {
    n: u32,
    to: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    client.command(&["DEL", TASKS, DEAD]).await?;

    let tasks = client.stream::<Task>(TASKS);
    tasks.ensure_group(GROUP, GroupStart::Beginning).await?;
    let batch: Vec<Task> = (1..=6)
        .map(|n| Task {
            n,
            // Task 4 has an address no mail server accepts: it fails every time.
            to: if n == 4 {
                "not-an-address".into()
            } else {
                format!("user{n}@example.com")
            },
        })
        .collect();
    let ids = tasks.add_batch(&batch).await?;
    let poison = ids[3];

    // worker-a reads all six and dies before acknowledging any: they stay pending, its own.
    let taken = tasks.read_group(GROUP, "worker-a", 10, None).await?;
    println!("worker-a read {} tasks and crashed", taken.len());
    let crashed_at = Instant::now();
    for p in tasks
        .pending_entries(GROUP, &PendingQuery::default())
        .await?
    {
        assert_eq!((p.consumer.as_str(), p.deliveries), ("worker-a", 1));
    }
    println!("pending: 6 tasks held by worker-a, each delivered once");

    // worker-b runs the consumer runtime: it reclaims entries idle for 300 ms, retries
    // failures after a short backoff, and dead-letters after 3 deliveries in all.
    let options = ConsumerOptions::default()
        .claim_idle(Some(CLAIM_IDLE))
        .max_deliveries(Some(3))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .block(Duration::from_millis(100));
    let consumer = tasks.consumer(GROUP, "worker-b", options);
    let metrics = consumer.metrics();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let sent = sent.clone();
        move |task: Entry<Task>| {
            let sent = sent.clone();
            async move {
                if !task.value.to.contains('@') {
                    let error = format!("task {}: bad recipient {:?}", task.value.n, task.value.to);
                    println!("  worker-b failed: {error}");
                    return Err(error);
                }
                let waited = crashed_at.elapsed().as_millis();
                println!(
                    "  worker-b sent task {} ({waited} ms after the crash)",
                    task.value.n
                );
                sent.lock()
                    .map_err(|_| "lock poisoned".to_string())?
                    .push(task.value.n);
                Ok(())
            }
        }
    };

    // Stop once the five good tasks are sent and the poison one is dead-lettered.
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let watched = metrics.clone();
    tokio::spawn(async move {
        loop {
            let m = watched.snapshot();
            if m.processed == 5 && m.dead_lettered == 1 {
                break stop.trigger();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let summary = tokio::time::timeout(Duration::from_secs(20), consumer.run(handler, shutdown))
        .await
        .map_err(|_| "worker-b did not finish in 20 s")??;

    let m = &summary.metrics;
    println!(
        "\nworker-b: reclaimed {}, sent {}, failed {}, retries {}, dead-lettered {}",
        m.reclaimed, m.processed, m.failed, m.retries, m.dead_lettered
    );
    let mut sent = sent.lock().map_err(|_| "lock poisoned")?.clone();
    sent.sort_unstable();
    assert_eq!(sent, [1, 2, 3, 5, 6]);
    assert_eq!(m.reclaimed, 6, "every task of worker-a was taken over");
    assert!(crashed_at.elapsed() >= CLAIM_IDLE, "not before claim_idle");
    // The poison task: delivered to worker-a, reclaimed (2), retried once (3), given up.
    assert_eq!((m.failed, m.retries, m.dead_lettered), (2, 1, 1));
    assert_eq!(summary.left_pending, 0);
    assert_eq!(tasks.pending(GROUP).await?.count, 0, "all acknowledged");

    // The dead letter: where the task came from, who gave up on it, why, and the task itself.
    let letters = tasks.dead_letters(None, IdRange::all(), None).await?;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    let task: Task = letter.decode(tasks.codec())?;
    println!("\ndead letter {} in {DEAD}:", letter.id);
    println!("  stream     {}", letter.stream);
    println!("  entry id   {}", letter.entry_id);
    println!("  group      {}", letter.group);
    println!("  consumer   {}", letter.consumer);
    println!("  deliveries {}", letter.deliveries);
    println!("  error      {}", letter.error);
    println!("  task       {task:?}");
    assert_eq!(letter.stream, TASKS);
    assert_eq!(letter.entry_id, poison);
    assert_eq!(
        (letter.group.as_str(), letter.consumer.as_str()),
        (GROUP, "worker-b")
    );
    assert_eq!(letter.deliveries, 3);
    assert_eq!(letter.error, "task 4: bad recipient \"not-an-address\"");
    assert_eq!(task, batch[3]);

    // The same letter as any Redis client sees it: flat fields.
    let raw = client.command(&["XRANGE", DEAD, "-", "+"]).await?;
    println!("  raw fields {}", field_names(&raw).join(" "));
    assert!(field_names(&raw).contains(&"entry.data".to_string()));

    println!("\nok: 6 tasks reclaimed from a dead worker, 5 sent, 1 dead-lettered");
    Ok(())
}

/// The field names of the first entry of an XRANGE reply.
fn field_names(reply: &rill::Reply) -> Vec<String> {
    use rill::Reply;
    let Reply::Array(entries) = reply else {
        return Vec::new();
    };
    let Some(Reply::Array(entry)) = entries.first() else {
        return Vec::new();
    };
    let Some(Reply::Array(fields)) = entry.get(1) else {
        return Vec::new();
    };
    fields
        .iter()
        .step_by(2)
        .filter_map(|f| match f {
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
