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
    /// Set at start-up only (`port`, `bind`, `databases`...).
    Immutable,
}

/// One parameter definition.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Lowercase, as CONFIG GET/SET and the config file spell it.
    pub name: &'static str,
    /// The value before any config file, command line or CONFIG SET: Redis's default.
    pub default: &'static str,
    /// How CONFIG SET checks a new value, and whether it may change it at all.
    pub kind: Kind,
}

const I64_MAX: i64 = i64::MAX;

/// Every parameter Rill knows, with Redis's defaults.
pub const PARAMS: &[Param] = &[
    Param {
        name: "port",
        default: "6379",
        kind: Kind::Immutable,
    },
    Param {
        name: "bind",
        default: "127.0.0.1",
        kind: Kind::Immutable,
    },
    Param {
        name: "dir",
        default: ".",
        kind: Kind::Immutable,
    },
    Param {
        name: "databases",
        default: "16",
        kind: Kind::Immutable,
    },
    Param {
        name: "daemonize",
        default: "no",
        kind: Kind::Immutable,
    },
    Param {
        name: "io-threads",
        default: "1",
        kind: Kind::Immutable,
    },
    Param {
        name: "requirepass",
        default: "",
        kind: Kind::Text,
    },
    Param {
        name: "maxclients",
        default: "10000",
        kind: Kind::Int {
            min: 1,
            max: I64_MAX,
        },
    },
    Param {
        name: "timeout",
        default: "0",
        kind: Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "tcp-keepalive",
        default: "300",
        kind: Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "appendonly",
        default: "no",
        kind: Kind::Bool,
    },
    Param {
        name: "appendfsync",
        default: "everysec",
        kind: Kind::Enum(&["always", "everysec", "no"]),
    },
    Param {
        name: "appendfilename",
        default: "appendonly.aof",
        kind: Kind::Immutable,
    },
    Param {
        name: "save",
        default: "",
        kind: Kind::Text,
    },
    Param {
        name: "hz",
        default: "10",
        kind: Kind::Int { min: 1, max: 500 },
    },
    Param {
        name: "loglevel",
        default: "notice",
        kind: Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
    },
    Param {
        name: "logfile",
        default: "",
        kind: Kind::Immutable,
    },
    Param {
        name: "maxmemory",
        default: "0",
        kind: Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "maxmemory-policy",
        default: "noeviction",
        kind: Kind::Enum(&["noeviction"]),
    },
    Param {
        name: "proto-max-bulk-len",
        default: "536870912",
        kind: Kind::Memory {
            min: 1024 * 1024,
            max: I64_MAX,
        },
    },
    Param {
        name: "client-query-buffer-limit",
        default: "1073741824",
        kind: Kind::Memory {
            min: 1024 * 1024,
            max: I64_MAX,
        },
    },
    Param {
        name: "stream-node-max-bytes",
        default: "4096",
        kind: Kind::Memory {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "stream-node-max-entries",
        default: "100",
        kind: Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "slowlog-log-slower-than",
        default: "10000",
        kind: Kind::Int {
            min: -1,
            max: I64_MAX,
        },
    },
    Param {
        name: "slowlog-max-len",
        default: "128",
        kind: Kind::Int {
            min: 0,
            max: I64_MAX,
        },
    },
    Param {
        name: "notify-keyspace-events",
        default: "",
        kind: Kind::Text,
    },
    Param {
        name: "cluster-enabled",
        default: "no",
        kind: Kind::Immutable,
    },
];

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
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: PARAMS.iter().map(|p| p.default.to_string()).collect(),
            node_limits: NodeLimits::default(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            query_buffer_limit: 1024 * 1024 * 1024,
            maxclients: 10000,
        };
        c.refresh();
        c
    }
}

/// Why a value was refused; the text goes into CONFIG SET's error.
pub type SetError = String;

impl Config {
    /// The value of a parameter by exact name.
    pub fn get(&self, name: &str) -> Option<&str> {
        PARAMS
            .iter()
            .position(|p| p.name == name)
            .map(|i| self.values[i].as_str())
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
        PARAMS
            .iter()
            .zip(&self.values)
            .filter(|(p, _)| glob_match(pattern, p.name.as_bytes(), true))
            .map(|(p, v)| (p.name.to_string(), v.clone()))
            .collect()
    }

    /// Sets a parameter. `startup` allows immutable ones (config file, command line).
    pub fn set(&mut self, name: &str, value: &str, startup: bool) -> Result<(), SetError> {
        let lower = name.to_ascii_lowercase();
        let Some(i) = PARAMS.iter().position(|p| p.name == lower) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let param = PARAMS[i];
        let stored = match param.kind {
            Kind::Immutable if !startup => {
                return Err(format!("CONFIG SET failed (possibly related to argument '{}') - can't set immutable config", param.name));
            }
            Kind::Immutable | Kind::Text => value.to_string(),
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" | "no" => value.to_ascii_lowercase(),
                _ => return Err(invalid(param.name, "argument must be 'yes' or 'no'")),
            },
            Kind::Enum(words) => {
                let v = value.to_ascii_lowercase();
                if !words.contains(&v.as_str()) {
                    return Err(invalid(
                        param.name,
                        "argument(s) must be one of the following",
                    ));
                }
                v
            }
            Kind::Int { min, max } => {
                let n = crate::args::parse_i64_strict(value.as_bytes()).ok_or_else(|| {
                    invalid(param.name, "argument couldn't be parsed into an integer")
                })?;
                check_range(param.name, n, min, max)?;
                n.to_string()
            }
            Kind::Memory { min, max } => {
                let n = parse_memory(value)
                    .ok_or_else(|| invalid(param.name, "argument must be a memory value"))?;
                check_range(param.name, n, min, max)?;
                n.to_string()
            }
        };
        self.values[i] = stored;
        self.refresh();
        Ok(())
    }

    fn refresh(&mut self) {
        let int = |c: &Config, n: &str| c.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        self.node_limits = NodeLimits {
            max_entries: int(self, "stream-node-max-entries"),
            max_bytes: int(self, "stream-node-max-bytes"),
        };
        self.proto_max_bulk_len = int(self, "proto-max-bulk-len");
        self.query_buffer_limit = int(self, "client-query-buffer-limit");
        self.maxclients = int(self, "maxclients");
    }

    /// The password clients must AUTH with, if any.
    pub fn requirepass(&self) -> Option<&str> {
        self.get("requirepass").filter(|p| !p.is_empty())
    }
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
    }
}
