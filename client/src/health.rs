//! `Stream::health`: one snapshot of a stream and its groups, checked against thresholds.
//!
//! The report is read with XINFO STREAM, XINFO GROUPS and one XINFO CONSUMERS per group: a few
//! round trips, not one atomic view, so a group created or destroyed in between may or may not
//! show. Ages come from entry IDs, which carry Unix milliseconds: they mean something for
//! auto-generated IDs only.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use rill::{Client, GroupStart, HealthThresholds, Problem};
//!
//! let client = Client::embedded();
//! let orders = client.stream::<String>("orders");
//! orders.add(&"book".to_string()).await?;
//! orders.ensure_group("billing", GroupStart::Beginning).await?;
//!
//! // Nobody has read from "billing" yet: it has no consumers, and one entry waits for it.
//! let thresholds = HealthThresholds::default().max_lag(0);
//! let report = orders.health(&thresholds).await?;
//! assert_eq!(report.length, 1);
//! assert_eq!(report.groups[0].lag, Some(1));
//! assert!(!report.is_healthy());
//! assert!(report.problems.contains(&Problem::NoConsumers { group: "billing".into() }));
//! for problem in &report.problems {
//!     println!("{}: {problem}", report.stream); // e.g. "orders: group billing has no consumers"
//! }
//! # Ok::<(), rill::Error>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::time::{Duration, SystemTime};

use rill_engine::StreamId;

use crate::error::{Error, Result};
use crate::types::{time_of, ConsumerInfo, GroupInfo, StreamInfo};
use crate::Stream;

/// What a stream looked like when [`Stream::health`] read it, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthReport {
    /// The stream's key.
    pub stream: String,
    /// `false` when no key holds the stream: every other field is then empty, and the only
    /// problem is [`Problem::Missing`].
    pub exists: bool,
    /// Number of entries.
    pub length: u64,
    /// The oldest entry still in the stream, if any.
    pub first_entry_id: Option<StreamId>,
    /// The newest entry still in the stream, if any.
    pub last_entry_id: Option<StreamId>,
    /// How long ago the oldest entry was added, by its ID (zero if the ID is in the future).
    pub first_entry_age: Option<Duration>,
    /// How long ago the newest entry was added, by its ID (zero if the ID is in the future).
    pub last_entry_age: Option<Duration>,
    /// Every consumer group, in the server's order.
    pub groups: Vec<GroupHealth>,
    /// What crossed a threshold; empty when the stream is healthy.
    pub problems: Vec<Problem>,
}

impl HealthReport {
    /// Whether nothing crossed a threshold (a missing stream is not healthy).
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report on a stream that does not exist.
    fn missing(stream: String) -> HealthReport {
        HealthReport {
            stream,
            exists: false,
            problems: vec![Problem::Missing],
            ..HealthReport::default()
        }
    }
}

/// One consumer group in a [`HealthReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct GroupHealth {
    /// The group's name.
    pub name: String,
    /// Entries delivered to the group's consumers and not acknowledged yet.
    pub pending: u64,
    /// Entries not delivered to the group yet; `None` when the server cannot tell (entries
    /// were deleted after the group's position).
    pub lag: Option<u64>,
    /// The last entry the group delivered.
    pub last_delivered_id: StreamId,
    /// The group's consumers, in the server's order.
    pub consumers: Vec<ConsumerHealth>,
}

/// One consumer in a [`GroupHealth`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerHealth {
    /// The consumer's name.
    pub name: String,
    /// Entries delivered to it and not acknowledged yet.
    pub pending: u64,
    /// Since it last tried anything (a read, even an empty one, or a claim): the figure
    /// [`HealthThresholds::max_consumer_idle`] is checked against.
    pub idle: Duration,
    /// Since its last successful read or claim; `None` if never, or on servers before 7.2.
    pub inactive: Option<Duration>,
}

/// Limits a [`HealthReport`] is checked against. `None` turns a check off; the default turns
/// every check off except [`HealthThresholds::require_consumers`].
///
/// Every limit is a maximum: a value equal to it is still healthy.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthThresholds {
    /// Most entries the stream may hold ([`Problem::TooLong`]): a stream nobody trims grows
    /// until memory runs out.
    pub max_length: Option<u64>,
    /// Most pending entries one group may have ([`Problem::TooManyPending`]): entries read and
    /// never acknowledged pile up when consumers crash or forget to ack.
    pub max_pending: Option<u64>,
    /// Most undelivered entries one group may have ([`Problem::LagTooHigh`]): consumers that
    /// cannot keep up. When set, a lag the server cannot compute is
    /// [`Problem::LagUnknown`].
    pub max_lag: Option<u64>,
    /// Longest a consumer may stay idle ([`Problem::ConsumerIdle`]): a dead consumer keeps its
    /// pending entries until someone claims them or deletes it.
    pub max_consumer_idle: Option<Duration>,
    /// Whether a group with no consumers is a problem ([`Problem::NoConsumers`]): entries for
    /// it pile up with nobody to read them. On by default.
    pub require_consumers: bool,
    /// Longest since the last entry was added ([`Problem::Stale`]): a producer that stopped.
    /// Measured on the stream's last generated ID, so an entry deleted or trimmed since still
    /// counts as the last write; a stream never written to is never stale.
    pub max_last_entry_age: Option<Duration>,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            max_length: None,
            max_pending: None,
            max_lag: None,
            max_consumer_idle: None,
            require_consumers: true,
            max_last_entry_age: None,
        }
    }
}

impl HealthThresholds {
    /// Sets [`HealthThresholds::max_length`].
    pub fn max_length(mut self, max: u64) -> Self {
        self.max_length = Some(max);
        self
    }

    /// Sets [`HealthThresholds::max_pending`].
    pub fn max_pending(mut self, max: u64) -> Self {
        self.max_pending = Some(max);
        self
    }

    /// Sets [`HealthThresholds::max_lag`].
    pub fn max_lag(mut self, max: u64) -> Self {
        self.max_lag = Some(max);
        self
    }

    /// Sets [`HealthThresholds::max_consumer_idle`].
    pub fn max_consumer_idle(mut self, max: Duration) -> Self {
        self.max_consumer_idle = Some(max);
        self
    }

    /// Sets [`HealthThresholds::require_consumers`].
    pub fn require_consumers(mut self, require: bool) -> Self {
        self.require_consumers = require;
        self
    }

    /// Sets [`HealthThresholds::max_last_entry_age`].
    pub fn max_last_entry_age(mut self, max: Duration) -> Self {
        self.max_last_entry_age = Some(max);
        self
    }
}

/// Something wrong with a stream, with the figures needed to act on it. `Display` gives a
/// one-line text for logs and alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No key holds the stream.
    Missing,
    /// The stream holds more entries than [`HealthThresholds::max_length`].
    TooLong {
        /// Entries in the stream.
        length: u64,
        /// The threshold.
        max: u64,
    },
    /// A group has more pending entries than [`HealthThresholds::max_pending`].
    TooManyPending {
        /// The group.
        group: String,
        /// Its pending entries.
        pending: u64,
        /// The threshold.
        max: u64,
    },
    /// A group has no consumers, and [`HealthThresholds::require_consumers`] is on.
    NoConsumers {
        /// The group.
        group: String,
    },
    /// A consumer has been idle longer than [`HealthThresholds::max_consumer_idle`].
    ConsumerIdle {
        /// The consumer's group.
        group: String,
        /// The consumer.
        consumer: String,
        /// Its idle time, as XINFO CONSUMERS reported it.
        idle: Duration,
        /// The threshold.
        max: Duration,
    },
    /// A group lags further behind than [`HealthThresholds::max_lag`].
    LagTooHigh {
        /// The group.
        group: String,
        /// Entries not delivered to it yet.
        lag: u64,
        /// The threshold.
        max: u64,
    },
    /// [`HealthThresholds::max_lag`] is set, but the server cannot compute the group's lag
    /// (entries were deleted after its position), so it cannot be checked.
    LagUnknown {
        /// The group.
        group: String,
    },
    /// The last entry was added longer ago than [`HealthThresholds::max_last_entry_age`].
    Stale {
        /// Since the last entry was added, by the stream's last generated ID.
        age: Duration,
        /// The threshold.
        max: Duration,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "the stream does not exist"),
            Problem::TooLong { length, max } => {
                write!(f, "{length} entries, more than the maximum of {max}")
            }
            Problem::TooManyPending {
                group,
                pending,
                max,
            } => write!(
                f,
                "group {group} has {pending} pending entries, more than the maximum of {max}"
            ),
            Problem::NoConsumers { group } => write!(f, "group {group} has no consumers"),
            Problem::ConsumerIdle {
                group,
                consumer,
                idle,
                max,
            } => write!(
                f,
                "consumer {consumer} of group {group} idle for {}, more than the maximum of {}",
                Millis(*idle),
                Millis(*max)
            ),
            Problem::LagTooHigh { group, lag, max } => write!(
                f,
                "group {group} lags {lag} entries behind, more than the maximum of {max}"
            ),
            Problem::LagUnknown { group } => write!(
                f,
                "group {group} has an unknown lag (entries deleted after its position)"
            ),
            Problem::Stale { age, max } => write!(
                f,
                "last entry added {} ago, more than the maximum of {}",
                Millis(*age),
                Millis(*max)
            ),
        }
    }
}

/// A duration printed to the millisecond (`1.5s`, `250ms`): what XINFO measures in.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = Duration::from_millis(self.0.as_millis().try_into().unwrap_or(u64::MAX));
        write!(f, "{whole:?}")
    }
}

/// XINFO's answer on a key that does not exist (Redis and Rill alike).
fn is_no_such_key(e: &Error) -> bool {
    matches!(e, Error::Server { code, message } if code == "ERR" && message.ends_with("no such key"))
}

impl<T: 'static> Stream<T> {
    /// Reads the stream's length, first and last entries and, per group, its pending count,
    /// lag and consumers, then lists what crosses `thresholds`.
    ///
    /// A missing stream is a report (`exists: false`, [`Problem::Missing`]), not an error; a key
    /// of another type is [`Error::Server`] with `WRONGTYPE`.
    pub async fn health(&self, thresholds: &HealthThresholds) -> Result<HealthReport> {
        let stream = self.key().to_string();
        let info = match self.info().await {
            Err(e) if is_no_such_key(&e) => return Ok(HealthReport::missing(stream)),
            other => other?,
        };
        let groups = match self.groups().await {
            // Deleted since XINFO STREAM.
            Err(e) if is_no_such_key(&e) => return Ok(HealthReport::missing(stream)),
            other => other?,
        };
        let mut group_health = Vec::with_capacity(groups.len());
        for group in groups {
            let consumers = match self.consumers(&group.name).await {
                // The group was destroyed since XINFO GROUPS: it is gone, not unhealthy.
                Err(e) if e.is_no_group() => continue,
                Err(e) if is_no_such_key(&e) => return Ok(HealthReport::missing(stream)),
                other => other?,
            };
            group_health.push(group_report(group, consumers));
        }

        let now = SystemTime::now();
        let age = |id: StreamId| now.duration_since(time_of(id)).unwrap_or_default();
        let mut report = HealthReport {
            stream,
            exists: true,
            length: info.length,
            first_entry_id: info.first_entry_id,
            last_entry_id: info.last_entry_id,
            first_entry_age: info.first_entry_id.map(age),
            last_entry_age: info.last_entry_id.map(age),
            groups: group_health,
            problems: Vec::new(),
        };
        report.problems = problems(&report, &info, thresholds, age);
        Ok(report)
    }
}

fn group_report(group: GroupInfo, consumers: Vec<ConsumerInfo>) -> GroupHealth {
    GroupHealth {
        name: group.name,
        pending: group.pending,
        // A negative lag (entries-read set beyond the stream) means nothing is waiting.
        lag: group.lag.map(|l| l.max(0) as u64),
        last_delivered_id: group.last_delivered_id,
        consumers: consumers
            .into_iter()
            .map(|c| ConsumerHealth {
                name: c.name,
                pending: c.pending,
                idle: c.idle,
                inactive: c.inactive,
            })
            .collect(),
    }
}

/// Checks an existing stream's report against the thresholds: stream-wide problems first,
/// then group by group.
fn problems(
    report: &HealthReport,
    info: &StreamInfo,
    thresholds: &HealthThresholds,
    age: impl Fn(StreamId) -> Duration,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(max) = thresholds.max_length {
        if report.length > max {
            problems.push(Problem::TooLong {
                length: report.length,
                max,
            });
        }
    }
    if let Some(max) = thresholds.max_last_entry_age {
        // The last generated ID is the last write even when that entry was deleted or
        // trimmed since: a stream its consumers empty with XDEL still goes stale. A stream
        // never written to has nothing to be stale about.
        if info.entries_added > 0 {
            let age = age(info.last_generated_id);
            if age > max {
                problems.push(Problem::Stale { age, max });
            }
        }
    }
    for group in &report.groups {
        let name = || group.name.clone();
        if let Some(max) = thresholds.max_pending {
            if group.pending > max {
                problems.push(Problem::TooManyPending {
                    group: name(),
                    pending: group.pending,
                    max,
                });
            }
        }
        if let Some(max) = thresholds.max_lag {
            match group.lag {
                Some(lag) if lag > max => problems.push(Problem::LagTooHigh {
                    group: name(),
                    lag,
                    max,
                }),
                Some(_) => {}
                None => problems.push(Problem::LagUnknown { group: name() }),
            }
        }
        if thresholds.require_consumers && group.consumers.is_empty() {
            problems.push(Problem::NoConsumers { group: name() });
        }
        if let Some(max) = thresholds.max_consumer_idle {
            for consumer in &group.consumers {
                if consumer.idle > max {
                    problems.push(Problem::ConsumerIdle {
                        group: name(),
                        consumer: consumer.name.clone(),
                        idle: consumer.idle,
                        max,
                    });
                }
            }
        }
    }
    problems
}
