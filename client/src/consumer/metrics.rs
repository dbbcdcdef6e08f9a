//! [`Metrics`]: a consumer's live counters, and the histogram of its handler run times.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rill_engine::StreamId;

/// Live counters of one consumer (or of every worker of a [`WorkerPool`](super::WorkerPool)): a
/// cheap handle to shared atomics, readable from any task while the consumer runs.
#[derive(Clone, Default)]
pub struct Metrics {
    pub(super) inner: Arc<MetricsInner>,
}

#[derive(Default)]
pub(super) struct MetricsInner {
    pub(super) processed: AtomicU64,
    failed: AtomicU64,
    pub(super) dead_lettered: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) decode_errors: AtomicU64,
    pub(super) reclaimed: AtomicU64,
    pub(super) gone: AtomicU64,
    pub(super) processing: Histogram,
    last_error: Mutex<Option<String>>,
}

/// The metrics at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSnapshot {
    /// Handler runs that returned `Ok`.
    pub processed: u64,
    /// Handler runs that returned an error or panicked, plus entries that could not be decoded.
    pub failed: u64,
    /// Entries moved to the dead-letter stream (and acknowledged).
    pub dead_lettered: u64,
    /// Failed entries taken back for another attempt after their backoff.
    pub retries: u64,
    /// Entries the codec could not decode (also counted in `failed` and, once written there,
    /// in `dead_lettered`).
    pub decode_errors: u64,
    /// Entries taken over with XAUTOCLAIM after `claim_idle`.
    pub reclaimed: u64,
    /// Pending entries given up because the stream no longer held them (trimmed or deleted
    /// while pending), found while reclaiming: their data is gone, so no handler can run.
    pub gone: u64,
    /// Mean handler run time, successes and failures alike (zero before the first run).
    pub avg_processing: Duration,
    /// Median handler run time, within about 3% (a log-scale histogram; zero before the first
    /// run). Likewise `p95` and `p99`.
    pub p50: Duration,
    /// 95th percentile of handler run times.
    pub p95: Duration,
    /// 99th percentile of handler run times.
    pub p99: Duration,
    /// The latest failure: `entry <id>: <error text>`.
    pub last_error: Option<String>,
}

impl Metrics {
    /// Fresh counters at zero.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Reads every counter now. Counters are read one by one while consumers keep counting,
    /// so a snapshot taken during a run may be off by the entries in flight.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let m = &self.inner;
        let [p50, p95, p99] = m.processing.percentiles([0.50, 0.95, 0.99]);
        MetricsSnapshot {
            processed: m.processed.load(Relaxed),
            failed: m.failed.load(Relaxed),
            dead_lettered: m.dead_lettered.load(Relaxed),
            retries: m.retries.load(Relaxed),
            decode_errors: m.decode_errors.load(Relaxed),
            reclaimed: m.reclaimed.load(Relaxed),
            gone: m.gone.load(Relaxed),
            avg_processing: m.processing.mean(),
            p50,
            p95,
            p99,
            last_error: m.last_error.lock().clone(),
        }
    }

    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(super) fn failure(&self, id: StreamId, error: &str) {
        Metrics::add(&self.inner.failed, 1);
        // Codec errors already name their entry; say it once.
        let text = if error.contains(&id.to_string()) {
            error.to_string()
        } else {
            format!("entry {id}: {error}")
        };
        *self.inner.last_error.lock() = Some(text);
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// Sub-buckets per power of two: 2^5 = 32, so a bucket spans at most 1/32 of its values.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Exact buckets below `SUB` µs, then `SUB` buckets for every power of two up to 2^63 µs.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A fixed log-linear histogram of durations in microseconds: constant memory (~8 KiB),
/// lock-free recording, percentiles within about 3%. A recording is two atomic additions
/// (its bucket, the sum) and a load (the maximum, raised only when passed): it runs once
/// per handled message, where every locked operation shows. The count is the buckets' sum,
/// worked out when read.
pub(super) struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us < SUB as u64 {
            return us as usize;
        }
        let exp = 63 - us.leading_zeros(); // >= SUB_BITS
        let sub = (us >> (exp - SUB_BITS)) as usize & (SUB - 1);
        (exp - SUB_BITS + 1) as usize * SUB + sub
    }

    /// The lowest value of a bucket and its width.
    fn span(bucket: usize) -> (u64, u64) {
        if bucket < SUB {
            return (bucket as u64, 1);
        }
        let exp = (bucket / SUB) as u32 - 1 + SUB_BITS;
        let width = 1u64 << (exp - SUB_BITS);
        ((1u64 << exp) + (bucket % SUB) as u64 * width, width)
    }

    pub(super) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Histogram::bucket(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        if us > self.max_us.load(Relaxed) {
            self.max_us.fetch_max(us, Relaxed);
        }
    }

    fn mean(&self) -> Duration {
        match self.buckets.iter().map(|b| b.load(Relaxed)).sum::<u64>() {
            0 => Duration::ZERO,
            n => Duration::from_micros(self.sum_us.load(Relaxed) / n),
        }
    }

    /// Each quantile (0..=1, ascending) as the middle of the bucket holding it, capped at the
    /// largest value recorded.
    fn percentiles<const N: usize>(&self, quantiles: [f64; N]) -> [Duration; N] {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let mut out = [Duration::ZERO; N];
        if total == 0 {
            return out;
        }
        let max = self.max_us.load(Relaxed);
        let mut seen = 0u64;
        let mut bucket = 0usize;
        for (slot, q) in out.iter_mut().zip(quantiles) {
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            while bucket < BUCKETS && seen + counts[bucket] < rank {
                seen += counts[bucket];
                bucket += 1;
            }
            let (low, width) = Histogram::span(bucket.min(BUCKETS - 1));
            *slot = Duration::from_micros((low + width / 2).min(max));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_cover_their_values() {
        for us in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            1000,
            123_456,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let (low, width) = Histogram::span(Histogram::bucket(us));
            assert!(
                low <= us && us - low < width,
                "{us} not in [{low}, +{width})"
            );
        }
        assert!(Histogram::bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_are_within_the_bucket_precision() {
        let h = Histogram::default();
        assert_eq!(h.percentiles([0.5]), [Duration::ZERO]);
        assert_eq!(h.mean(), Duration::ZERO);
        // 1..=1000 ms: the median is 500 ms, p95 950 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let [p50, p95, p99] = h.percentiles([0.5, 0.95, 0.99]);
        for (got, want) in [(p50, 500.0), (p95, 950.0), (p99, 990.0)] {
            let got = got.as_secs_f64() * 1000.0;
            assert!(
                (got - want).abs() / want < 0.035,
                "{got} ms, want {want} ms"
            );
        }
        assert_eq!(h.mean(), Duration::from_micros(500_500));
        // Never above the largest value seen.
        let one = Histogram::default();
        one.record(Duration::from_micros(1_000_001));
        assert_eq!(one.percentiles([0.99]), [Duration::from_micros(1_000_001)]);
    }
}
