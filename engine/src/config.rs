//! Rill's configuration parameters: CONFIG GET / SET, the config file and the command line
//! all read and write this one table.

use crate::args::glob_match;
use crate::stream::NodeLimits;

/// How a parameter's value is checked when set.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An integer within bounds.
    Int {
        /// The lowest accepted value, inclusive.
        min: i64,
        /// The highest accepted value, inclusive.
        max: i64,
    },
    /// A byte size: integer with an optional unit (`kb`, `mb`, `gb`, `k`, `m`, `g`).
    Memory {
        /// The lowest accepted size in bytes, inclusive, checked after the unit is applied.
        min: i64,
        /// The highest accepted size in bytes, inclusive.
        max: i64,
    },
    /// `yes` or `no`.
    Bool,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <soft seconds>` triples.
    OutputBufferLimit,
    /// `save`: `<seconds> <changes>` pairs, or empty for none.
    SavePoints,
    /// `notify-keyspace-events`: class letters, stored as Redis prints them.
    KeyspaceEvents,
}

/// One parameter definition.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Lowercase, as CONFIG GET/SET and the config file spell it.
    pub name: &'static str,
    /// The value before any config file, command line or CONFIG SET: Redis's default.
    pub default: &'static str,
    /// How a new value is checked.
    pub kind: Kind,
    /// Whether CONFIG SET may change it; the others are set at start-up only (`port`,
    /// `databases`...), as in Redis.
    pub mutable: bool,
    /// The only values Rill accepts for now, when a Redis value would promise a feature Rill
    /// does not have yet (`appendonly yes` before the append-only log): accepting it and
    /// doing nothing would lose a user's data. `None`: every valid value is enforced.
    pub only: Option<&'static str>,
}

const fn param(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param {
        name,
        default,
        kind,
        mutable: true,
        only: None,
    }
}

const fn fixed(name: &'static str, default: &'static str, kind: Kind) -> Param {
    Param {
        name,
        default,
        kind,
        mutable: false,
        only: None,
    }
}

/// A parameter whose only accepted value is its default, for now; the error says why.
const fn not_yet(name: &'static str, default: &'static str, kind: Kind, mutable: bool) -> Param {
    Param {
        name,
        default,
        kind,
        mutable,
        only: Some(default),
    }
}

const I64_MAX: i64 = i64::MAX;
const INT_MAX: i64 = i32::MAX as i64;
const UINT_MAX: i64 = u32::MAX as i64;

/// The eviction policies of `maxmemory-policy`.
pub const EVICTION_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every parameter Rill knows, with Redis's defaults and ranges. Each one is enforced: a
/// directive Rill does not implement is not in this table, so the config file and CONFIG SET
/// refuse it instead of accepting it and doing nothing.
pub const PARAMS: &[Param] = &[
    fixed("port", "6379", Kind::Int { min: 0, max: 65535 }),
    fixed("bind", "127.0.0.1", Kind::Text),
    fixed("dir", ".", Kind::Text),
    fixed(
        "databases",
        "16",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
    ),
    not_yet("daemonize", "no", Kind::Bool, false),
    fixed("io-threads", "1", Kind::Int { min: 1, max: 128 }),
    fixed(
        "tcp-backlog",
        "511",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param("protected-mode", "yes", Kind::Bool),
    param("requirepass", "", Kind::Text),
    param(
        "maxclients",
        "10000",
        Kind::Int {
            min: 1,
            max: UINT_MAX,
        },
    ),
    param(
        "timeout",
        "0",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "tcp-keepalive",
        "300",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::OutputBufferLimit,
    ),
    param("appendonly", "no", Kind::Bool),
    param(
        "appendfsync",
        "everysec",
        Kind::Enum(&["always", "everysec", "no"]),
    ),
    fixed("appendfilename", "appendonly.aof", Kind::Text),
    fixed("appenddirname", "appendonlydir", Kind::Text),
    param("aof-load-truncated", "yes", Kind::Bool),
    param(
        "auto-aof-rewrite-percentage",
        "100",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "auto-aof-rewrite-min-size",
        "67108864",
        Kind::Memory {
            min: 0,
            max: i64::MAX,
        },
    ),
    param("aof-rewrite-incremental-fsync", "yes", Kind::Bool),
    param("rdb-save-incremental-fsync", "yes", Kind::Bool),
    param("rdbcompression", "yes", Kind::Bool),
    // Rill's own: the RDB version DUMP, snapshots and RDB AOF bases write. Redis refuses
    // anything newer than its own (7.0: 10, 7.2: 11, 7.4: 12, 8.6: 13, 8.8: 14). `auto` writes 12
    // unless the data holds what only a newer version can (IDMP state: 13; NACKed entries: 14).
    param(
        "rdb-write-version",
        "auto",
        Kind::Enum(&["auto", "9", "10", "11", "12", "13", "14"]),
    ),
    param("aof-use-rdb-preamble", "yes", Kind::Bool),
    // Redis's testing directive: a pause after each key or command loaded (µs; negative: ns).
    param(
        "key-load-delay",
        "0",
        Kind::Int {
            min: i32::MIN as i64,
            max: INT_MAX,
        },
    ),
    // Rill's own: what loading an RDB file (or an RDB AOF base) does with a value of a type
    // Rill does not hold yet: stop the load naming it, or skip it (named in the log, counted
    // in INFO's rdb_last_load_keys_skipped) and load the rest.
    param(
        "rdb-unsupported-types",
        "stop",
        Kind::Enum(&["stop", "skip"]),
    ),
    not_yet("aof-timestamp-enabled", "no", Kind::Bool, true),
    param("save", "3600 1 300 100 60 10000", Kind::SavePoints),
    fixed("dbfilename", "dump.rdb", Kind::Text),
    fixed("rdbchecksum", "yes", Kind::Bool),
    param("stop-writes-on-bgsave-error", "yes", Kind::Bool),
    param(
        "hz",
        "10",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "loglevel",
        "notice",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
    ),
    fixed("logfile", "", Kind::Text),
    param(
        "maxmemory",
        "0",
        Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    ),
    param(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(EVICTION_POLICIES),
    ),
    param(
        "maxmemory-samples",
        "5",
        Kind::Int {
            min: 1,
            max: INT_MAX,
        },
    ),
    param(
        "lfu-log-factor",
        "10",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "lfu-decay-time",
        "1",
        Kind::Int {
            min: 0,
            max: INT_MAX,
        },
    ),
    param(
        "proto-max-bulk-len",
        "536870912",
        Kind::Memory {
            min: 1024 * 1024,
            max: I64_MAX,
        },
    ),
    param(
        "client-query-buffer-limit",
        "1073741824",
        Kind::Memory {
            min: 1024 * 1024,
            max: I64_MAX,
        },
    ),
    param(
        "stream-node-max-bytes",
        "4096",
        Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Rill's own (hence the prefix, out of the way of Redis's names and globs): how sealed
    // stream nodes are kept in memory. Files and replies are the same either way.
    param("rill-stream-compression", "lz4", Kind::Enum(&["lz4", "no"])),
    param(
        "stream-node-max-entries",
        "100",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Hashes stay listpacks up to these many fields, none longer than these many bytes.
    param(
        "hash-max-listpack-entries",
        "512",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    param(
        "hash-max-listpack-value",
        "64",
        Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Sets of integers stay intsets up to this many; small sets of strings listpacks.
    param(
        "set-max-intset-entries",
        "512",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    param(
        "set-max-listpack-entries",
        "128",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    param(
        "set-max-listpack-value",
        "64",
        Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Sorted sets stay listpacks up to these many members, none longer than these many bytes.
    param(
        "zset-max-listpack-entries",
        "128",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    param(
        "zset-max-listpack-value",
        "64",
        Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Lists stay one listpack up to this size: a positive element count, or -1..-5 for 4 KB
    // to 64 KB.
    param(
        "list-max-listpack-size",
        "-2",
        Kind::Int {
            min: i32::MIN as i64,
            max: INT_MAX,
        },
    ),
    // Redis 8.6: what a new stream starts with as its IDMP-DURATION and IDMP-MAXSIZE.
    param(
        "stream-idmp-duration",
        "100",
        Kind::Int {
            min: crate::stream::idmp::DURATION_RANGE.0 as i64,
            max: crate::stream::idmp::DURATION_RANGE.1 as i64,
        },
    ),
    param(
        "stream-idmp-maxsize",
        "100",
        Kind::Int {
            min: crate::stream::idmp::MAX_SIZE_RANGE.0 as i64,
            max: crate::stream::idmp::MAX_SIZE_RANGE.1 as i64,
        },
    ),
    param(
        "slowlog-log-slower-than",
        "10000",
        Kind::Int {
            min: -1,
            max: I64_MAX,
        },
    ),
    param(
        "slowlog-max-len",
        "128",
        Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    ),
    // Keyspace notifications: which classes of events are published (see `notify`).
    param("notify-keyspace-events", "", Kind::KeyspaceEvents),
    not_yet("cluster-enabled", "no", Kind::Bool, false),
];

/// `client-output-buffer-limit` for one class of clients: a client whose pending output
/// passes `hard` bytes, or stays above `soft` bytes for `soft_seconds`, is closed. Zero
/// disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    /// Bytes that close the client at once; 0: no hard limit.
    pub hard: u64,
    /// Bytes the client may stay above for only `soft_seconds`; 0: no soft limit.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// The client classes of `client-output-buffer-limit`, in the order Redis prints them.
pub const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Current values, in `PARAMS` order.
#[derive(Debug, Clone)]
pub struct Config {
    values: Vec<String>,
    /// Cached typed copies of the values read on hot paths.
    pub node_limits: NodeLimits,
    /// `proto-max-bulk-len` in bytes: the largest bulk string a request may carry.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit` in bytes: a client whose unparsed input grows past it is
    /// disconnected.
    pub query_buffer_limit: u64,
    /// `maxclients`: connections beyond it are refused (and counted in `rejected_connections`);
    /// embedded sessions count toward it too.
    pub maxclients: u64,
    /// `maxmemory` in bytes; 0: no limit.
    pub maxmemory: u64,
    /// `client-output-buffer-limit`, per class in [`OUTPUT_CLASSES`] order.
    pub output_limits: [OutputLimit; 3],
    /// `timeout` in seconds: idle clients are closed after it; 0 never.
    pub timeout: u64,
    /// `hz`, clamped to 1..=500 as Redis does: how often the server's cron runs per second.
    pub hz: u64,
    /// `notify-keyspace-events` as flags (see [`crate::notify`]), set with the parameter.
    pub keyspace_events: u16,
    /// `slowlog-log-slower-than` in microseconds; negative: SLOWLOG records nothing. Read
    /// after every command.
    pub slowlog_threshold: i64,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: PARAMS.iter().map(|p| p.default.to_string()).collect(),
            node_limits: NodeLimits::default(),
            proto_max_bulk_len: 0,
            query_buffer_limit: 0,
            maxclients: 0,
            maxmemory: 0,
            output_limits: [OutputLimit::default(); 3],
            timeout: 0,
            hz: 10,
            keyspace_events: 0,
            slowlog_threshold: -1,
        };
        c.refresh();
        c
    }
}

/// Older names Redis still answers to (the ziplist encodings became listpacks in 7.0): CONFIG
/// GET, SET and config files accept both, and a pattern lists both.
const ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
];

/// The parameter `name` (lowercase) stands for: itself, or the one an alias names.
pub fn canonical(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, target)| target)
}

/// Why a value was refused; the text goes into CONFIG SET's error.
pub type SetError = String;

impl Config {
    /// The value of a parameter by exact name.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical(name);
        PARAMS
            .iter()
            .position(|p| p.name == name)
            .map(|i| self.values[i].as_str())
    }

    /// A parameter's value as an integer (0 when absent or not a number).
    pub fn int(&self, name: &str) -> u64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// A signed integer parameter's value (0 if unset).
    pub fn signed(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Every (name, value) pair whose name matches the glob `pattern`.
    /// A pattern without glob characters is looked up by name and answered with the name as
    /// the client wrote it, as Redis does.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        if !pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            let asked = String::from_utf8_lossy(pattern).into_owned();
            return match self.get(&asked.to_ascii_lowercase()) {
                Some(v) => vec![(asked, v.to_string())],
                None => Vec::new(),
            };
        }
        let aliases = ALIASES
            .iter()
            .filter(|(alias, _)| glob_match(pattern, alias.as_bytes(), true))
            .filter_map(|(alias, _)| Some((alias.to_string(), self.get(alias)?.to_string())));
        PARAMS
            .iter()
            .zip(&self.values)
            .filter(|(p, _)| glob_match(pattern, p.name.as_bytes(), true))
            .map(|(p, v)| (p.name.to_string(), v.clone()))
            .chain(aliases)
            .collect()
    }

    /// Sets a parameter. `startup` allows immutable ones (config file, command line).
    pub fn set(&mut self, name: &str, value: &str, startup: bool) -> Result<(), SetError> {
        let lower = name.to_ascii_lowercase();
        let lower = canonical(&lower);
        let Some(i) = PARAMS.iter().position(|p| p.name == lower) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let param = PARAMS[i];
        if !param.mutable && !startup {
            return Err(invalid(param.name, "can't set immutable config"));
        }
        let stored = match param.kind {
            Kind::Text => value.to_string(),
            // Kept as flags: the text Redis shows can leave a class out (`n` beside `A`).
            Kind::KeyspaceEvents => match crate::notify::parse(value) {
                Some(flags) => {
                    self.keyspace_events = flags;
                    crate::notify::format(flags)
                }
                None => {
                    return Err(invalid(
                        param.name,
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                    ))
                }
            },
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" | "no" => value.to_ascii_lowercase(),
                _ => return Err(invalid(param.name, "argument must be 'yes' or 'no'")),
            },
            Kind::Enum(words) => {
                let v = value.to_ascii_lowercase();
                if !words.contains(&v.as_str()) {
                    return Err(invalid(
                        param.name,
                        &format!(
                            "argument(s) must be one of the following: {}",
                            words.join(", ")
                        ),
                    ));
                }
                v
            }
            Kind::Int { min, max } => {
                let n = crate::args::parse_i64_strict(value.as_bytes()).ok_or_else(|| {
                    invalid(param.name, "argument couldn't be parsed into an integer")
                })?;
                check_range(param.name, n, min, max)?;
                if param.name == "hz" {
                    // Redis keeps hz within 1..=500 and shows the value it kept.
                    n.clamp(1, 500).to_string()
                } else {
                    n.to_string()
                }
            }
            Kind::Memory { min, max } => {
                let n = parse_memory(value)
                    .ok_or_else(|| invalid(param.name, "argument must be a memory value"))?;
                check_range(param.name, n, min, max)?;
                n.to_string()
            }
            Kind::SavePoints => {
                let words: Vec<&str> = value.split_whitespace().collect();
                let valid =
                    words.len().is_multiple_of(2) && words.iter().all(|w| w.parse::<u64>().is_ok());
                if !valid {
                    return Err(invalid(param.name, "Invalid save parameters"));
                }
                words.join(" ")
            }
            Kind::OutputBufferLimit => {
                let mut limits = self.output_limits;
                parse_output_limits(value, &mut limits).map_err(|why| invalid(param.name, why))?;
                format_output_limits(&limits)
            }
        };
        if let Some(only) = param.only {
            if stored != only {
                return Err(invalid(param.name, &not_supported(param.name, value)));
            }
        }
        self.values[i] = stored;
        self.refresh();
        Ok(())
    }

    /// When a set changes encoding (`set-max-*`).
    pub fn set_limits(&self) -> crate::set::SetLimits {
        crate::set::SetLimits {
            intset_entries: self.int("set-max-intset-entries"),
            listpack_entries: self.int("set-max-listpack-entries"),
            listpack_value: self.int("set-max-listpack-value"),
        }
    }

    /// When a listpack sorted set becomes a skiplist (`zset-max-listpack-*`).
    pub fn zset_limits(&self) -> crate::zset::ZSetLimits {
        crate::zset::ZSetLimits {
            listpack_entries: self.int("zset-max-listpack-entries"),
            listpack_value: self.int("zset-max-listpack-value"),
        }
    }

    /// When a list becomes a quicklist (`list-max-listpack-size`).
    pub fn list_limit(&self) -> crate::list::ListLimit {
        crate::list::ListLimit(
            self.get("list-max-listpack-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(-2),
        )
    }

    /// When a listpack hash becomes a table (`hash-max-listpack-*`).
    pub fn hash_limits(&self) -> crate::hash::HashLimits {
        crate::hash::HashLimits {
            max_entries: self.int("hash-max-listpack-entries"),
            max_value: self.int("hash-max-listpack-value"),
        }
    }

    /// An empty stream with this configuration's idempotency settings (`stream-idmp-*`), as
    /// XADD and XGROUP CREATE MKSTREAM make it.
    pub fn new_stream(&self) -> crate::stream::Stream {
        let mut stream = crate::stream::Stream::new();
        stream.idmp = crate::stream::idmp::Idmp::new(
            self.int("stream-idmp-duration"),
            self.int("stream-idmp-maxsize"),
        );
        stream
    }

    fn refresh(&mut self) {
        self.node_limits = NodeLimits {
            max_entries: self.int("stream-node-max-entries"),
            max_bytes: self.int("stream-node-max-bytes"),
            compress: self.get("rill-stream-compression") != Some("no"),
        };
        self.proto_max_bulk_len = self.int("proto-max-bulk-len");
        self.query_buffer_limit = self.int("client-query-buffer-limit");
        self.maxclients = self.int("maxclients");
        self.maxmemory = self.int("maxmemory");
        self.timeout = self.int("timeout");
        self.hz = self.int("hz").clamp(1, 500);
        self.slowlog_threshold = self
            .get("slowlog-log-slower-than")
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        let mut limits = [OutputLimit::default(); 3];
        if let Some(text) = self.get("client-output-buffer-limit") {
            // Stored only after it parsed, so this cannot fail.
            let _ = parse_output_limits(text, &mut limits);
        }
        self.output_limits = limits;
    }

    /// The password clients must AUTH with, if any.
    pub fn requirepass(&self) -> Option<&str> {
        self.get("requirepass").filter(|p| !p.is_empty())
    }

    /// `maxmemory-policy`.
    pub fn eviction_policy(&self) -> &str {
        self.get("maxmemory-policy").unwrap_or("noeviction")
    }
}

/// Why a value Redis accepts is refused by Rill for now.
fn not_supported(name: &str, value: &str) -> String {
    let why = match name {
        "aof-timestamp-enabled" => "Rill does not write timestamp annotations in the AOF",
        "daemonize" => {
            "Rill runs in the foreground; use a service manager to run it in the background"
        }
        "cluster-enabled" => "Rill does not implement Redis Cluster",
        _ => "Rill does not support this value",
    };
    format!("'{value}' is not supported: {why}")
}

/// Parses `<class> <hard> <soft> <soft seconds>` triples into `limits` (classes not named
/// keep their values), with Redis's errors.
fn parse_output_limits(value: &str, limits: &mut [OutputLimit; 3]) -> Result<(), &'static str> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut parsed = *limits;
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration."),
        };
        let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(group[1]).ok_or(bad)?;
        let soft = parse_memory(group[2]).ok_or(bad)?;
        let seconds = crate::args::parse_i64_strict(group[3].as_bytes())
            .filter(|n| *n >= 0)
            .ok_or(bad)?;
        parsed[class] = OutputLimit {
            hard: hard as u64,
            soft: soft as u64,
            soft_seconds: seconds as u64,
        };
    }
    *limits = parsed;
    Ok(())
}

/// The form CONFIG GET shows: every class, sizes in bytes.
fn format_output_limits(limits: &[OutputLimit; 3]) -> String {
    OUTPUT_CLASSES
        .iter()
        .zip(limits)
        .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
}

fn invalid(name: &str, why: &str) -> String {
    format!("CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

fn check_range(name: &str, n: i64, min: i64, max: i64) -> Result<(), SetError> {
    if n < min || n > max {
        return Err(invalid(
            name,
            &format!("argument must be between {min} and {max} inclusive"),
        ));
    }
    Ok(())
}

/// Redis's memory units: `1k` = 1000, `1kb` = 1024, and so on, case-insensitive.
pub fn parse_memory(value: &str) -> Option<i64> {
    let v = value.to_ascii_lowercase();
    if v.starts_with('-') {
        return None;
    }
    let units: [(&str, i64); 6] = [
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
    ];
    for (suffix, mul) in units {
        if let Some(num) = v.strip_suffix(suffix) {
            return crate::args::parse_i64_strict(num.as_bytes())?.checked_mul(mul);
        }
    }
    crate::args::parse_i64_strict(v.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_get() {
        let mut c = Config::default();
        assert!(c.set("stream-node-max-entries", "10", false).is_ok());
        assert_eq!(c.node_limits.max_entries, 10);
        assert!(c.set("port", "1", false).is_err());
        assert!(c.set("proto-max-bulk-len", "2mb", false).is_ok());
        assert_eq!(c.proto_max_bulk_len, 2 << 20);
        assert_eq!(c.matching(b"stream-node-*").len(), 2);
        assert!(c.node_limits.compress);
        assert!(c.set("rill-stream-compression", "NO", false).is_ok());
        assert!(!c.node_limits.compress);
        assert!(c.set("rill-stream-compression", "zstd", false).is_err());
    }

    #[test]
    fn output_buffer_limits_use_redis_syntax() {
        let mut c = Config::default();
        assert_eq!(c.output_limits[0], OutputLimit::default());
        assert!(c
            .set(
                "client-output-buffer-limit",
                "normal 1mb 2kb 3 replica 1 2 3",
                false
            )
            .is_ok());
        assert_eq!(
            c.get("client-output-buffer-limit"),
            Some("normal 1048576 2048 3 slave 1 2 3 pubsub 33554432 8388608 60")
        );
        assert_eq!(
            c.output_limits[0],
            OutputLimit {
                hard: 1 << 20,
                soft: 2048,
                soft_seconds: 3
            }
        );
        let err = c.set("client-output-buffer-limit", "normal 1 2", false);
        assert_eq!(err, Err("CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.".to_string()));
        assert!(c
            .set("client-output-buffer-limit", "foo 1 2 3", false)
            .is_err());
        assert!(c
            .set("client-output-buffer-limit", "normal 1 2 -3", false)
            .is_err());
    }

    #[test]
    fn values_promising_missing_features_are_refused() {
        let mut c = Config::default();
        assert!(c.set("appendonly", "yes", true).is_ok());
        assert!(c.set("save", "3600 1", false).is_ok());
        assert!(c.set("save", "3600", false).is_err());
        assert!(c.set("save", "", false).is_ok());
        assert!(c.set("notify-keyspace-events", "KEA", false).is_ok());
        assert_eq!(c.get("notify-keyspace-events"), Some("AKE"));
        assert!(c.set("notify-keyspace-events", "Kq", false).is_err());
        assert!(c.set("daemonize", "yes", true).is_err());
    }

    #[test]
    fn ranges_follow_redis() {
        let mut c = Config::default();
        assert_eq!(
            c.set("maxclients", "9223372036854775807", false),
            Err("CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive".to_string())
        );
        assert!(c.set("hz", "1000", false).is_ok());
        assert_eq!((c.hz, c.get("hz")), (500, Some("500")));
        assert_eq!(c.set("maxmemory-policy", "foo", false), Err("CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction".to_string()));
    }
}
