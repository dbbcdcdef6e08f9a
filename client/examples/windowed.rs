//! Windowed processing: summaries of fixed time windows (one minute here) over a stream of
//! sensor readings. Entry IDs carry Unix milliseconds, so `IdRange::window(from, to)` reads
//! exactly the entries of `[from, to)`. Each summary is cached next to the stream with
//! `SET key value EX 60`: the first request computes it, the next ones read the cache until it
//! expires.
//!
//! The readings use explicit IDs at known timestamps (as an import or a replay would), so the
//! windows and their summaries are the same on every run.
//!
//! ```text
//! cargo run -p rill --example windowed                                   # embedded
//! RILL_URL=redis://127.0.0.1:6379/ cargo run -p rill --example windowed  # a server
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rill::{Client, IdRange, Reply, Stream, StreamId};
use serde::{Deserialize, Serialize};

const READINGS: &str = "example:windowed:readings";
const SUMMARY_PREFIX: &str = "example:windowed:summary:";
/// How long a cached summary lives, in seconds.
const CACHE_TTL: u64 = 60;
/// 2024-01-01T00:00:00Z: the first reading.
const START_MS: u64 = 1_704_067_200_000;
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Reading {
    sensor: String,
    celsius: f64,
}

/// What a window is summed up to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct WindowSummary {
    from_ms: u64,
    to_ms: u64,
    count: usize,
    min: f64,
    max: f64,
    mean: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env().await?;
    println!("backend: {}", backend(&client));
    let start = UNIX_EPOCH + Duration::from_millis(START_MS);
    let windows: Vec<(SystemTime, SystemTime)> = (0..5)
        .map(|m| (start + MINUTE * m, start + MINUTE * (m + 1)))
        .collect();
    let mut keys = vec![READINGS.to_string()];
    keys.extend(windows.iter().map(|(from, _)| summary_key(*from)));
    let empty_minute = start + MINUTE * 10;
    keys.push(summary_key(empty_minute));
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    client.command(&del).await?;

    // Five minutes of readings, one every 10 s, with the reading's time as its ID.
    let readings = client.stream::<Reading>(READINGS);
    for k in 0..30u64 {
        let id = StreamId::new(START_MS + k * 10_000, 0);
        let reading = Reading {
            sensor: "greenhouse-1".into(),
            celsius: 18.0 + (k % 7) as f64 * 0.5 + (k / 6) as f64,
        };
        readings.add_with(&reading, Some(id), None).await?;
    }
    println!("30 readings from 2024-01-01T00:00:00Z, one every 10 s");

    // One summary per minute: the first request of each computes and caches it.
    println!("\nminute  count   min    max   mean  source");
    for (m, (from, to)) in windows.iter().enumerate() {
        let (summary, source) = window_summary(&client, &readings, *from, *to).await?;
        println!(
            "00:0{m}   {:>5} {:>5.1} {:>6.1} {:>6.2}  {source}",
            summary.count, summary.min, summary.max, summary.mean
        );
        assert_eq!(
            summary.count, 6,
            "six readings a minute, [from, to) excludes `to`"
        );
        assert_eq!(source, "computed");
    }

    // Asked again: minute 3 now comes from the cache.
    let (from, to) = windows[3];
    let (cached, source) = window_summary(&client, &readings, from, to).await?;
    let (direct, ids) = summarize(&readings, from, to).await?;
    println!("\nminute 3 asked again: {source}, {cached:?}");
    println!("its entries: {} ..= {}", ids[0], ids[ids.len() - 1]);
    assert_eq!(source, "cache");
    assert_eq!(cached, direct);
    assert_eq!((cached.min, cached.max), (21.0, 24.0));
    // [00:03:00, 00:04:00): the reading at 00:04:00 belongs to the next window.
    assert_eq!(ids.first(), Some(&StreamId::new(START_MS + 180_000, 0)));
    assert_eq!(ids.last(), Some(&StreamId::new(START_MS + 230_000, 0)));

    // The cached value as it is stored, and the time it has left.
    let key = summary_key(from);
    let stored = client.command(&["GET", &key]).await?;
    let ttl = client.command(&["TTL", &key]).await?;
    let Reply::Bulk(json) = &stored else {
        return Err(format!("GET {key}: {stored:?}").into());
    };
    let Reply::Integer(ttl) = ttl else {
        return Err(format!("TTL {key}: {ttl:?}").into());
    };
    println!("GET {key} -> {}", String::from_utf8_lossy(json));
    println!("TTL {key} -> {ttl} s");
    assert!(ttl > 0 && ttl <= CACHE_TTL as i64, "TTL {ttl}");

    // A window with no readings in it: an empty summary, cached like any other.
    let (empty, source) =
        window_summary(&client, &readings, empty_minute, empty_minute + MINUTE).await?;
    println!("\nminute 10 (no readings): count {}, {source}", empty.count);
    assert_eq!((empty.count, source), (0, "computed"));

    println!("\nok: 5 windows of 6 readings summarized, cached for {CACHE_TTL} s, read back");
    Ok(())
}

/// The summary of `[from, to)`: from the cache when it is there, else computed and cached.
async fn window_summary(
    client: &Client,
    readings: &Stream<Reading>,
    from: SystemTime,
    to: SystemTime,
) -> Result<(WindowSummary, &'static str), Box<dyn std::error::Error>> {
    let key = summary_key(from);
    if let Reply::Bulk(json) = client.command(&["GET", &key]).await? {
        return Ok((serde_json::from_slice(&json)?, "cache"));
    }
    let (summary, _) = summarize(readings, from, to).await?;
    let json = serde_json::to_string(&summary)?;
    let ttl = CACHE_TTL.to_string();
    client.command(&["SET", &key, &json, "EX", &ttl]).await?;
    Ok((summary, "computed"))
}

/// Reads the window's entries and sums them up; also returns their IDs.
async fn summarize(
    readings: &Stream<Reading>,
    from: SystemTime,
    to: SystemTime,
) -> Result<(WindowSummary, Vec<StreamId>), Box<dyn std::error::Error>> {
    let entries = readings.range(IdRange::window(from, to), None).await?;
    let values: Vec<f64> = entries.iter().map(|e| e.value.celsius).collect();
    let count = values.len();
    let (min, max, mean) = if count == 0 {
        (0.0, 0.0, 0.0)
    } else {
        (
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            values.iter().sum::<f64>() / count as f64,
        )
    };
    let summary = WindowSummary {
        from_ms: millis(from),
        to_ms: millis(to),
        count,
        min,
        max,
        mean,
    };
    Ok((summary, entries.iter().map(|e| e.id).collect()))
}

fn summary_key(from: SystemTime) -> String {
    format!("{SUMMARY_PREFIX}{}", millis(from))
}

fn millis(t: SystemTime) -> u64 {
    rill::id_at(t).ms
}

fn backend(client: &Client) -> String {
    match std::env::var("RILL_URL") {
        Ok(url) if !client.is_embedded() => url,
        _ => "embedded engine (set RILL_URL to use a server)".into(),
    }
}
