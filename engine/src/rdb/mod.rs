//! Redis's RDB format: the value encodings shared by DUMP/RESTORE, snapshots and the AOF's
//! RDB preamble. Everything read here may come from a client or a damaged file: lengths are
//! checked against the bytes before anything is allocated, and bad data is an error, never a
//! panic.
//!
//! - [`crc64`], [`lzf`]: the checksum and the string compression Redis uses.
//! - [`encoding`]: lengths, strings, times.
//! - [`listpack`]: the node format of streams.
//! - [`value`]: strings and streams (every stream encoding since Redis 5).
//! - [`dump`]: DUMP payloads.
//! - [`skip`]: stepping over values of types Rill does not hold yet.
//! - [`file`], [`save`]: whole files; SAVE, BGSAVE, save points, loading.
//! - [`transfer`]: a snapshot sent to a client (SYNC / PSYNC for `redis-cli --rdb`).

pub mod crc64;
pub mod dump;
pub mod encoding;
pub mod file;
pub mod listpack;
pub mod lzf;
pub mod save;
pub mod skip;
pub mod transfer;
pub mod value;
pub mod ziplist;

/// The newest RDB version Rill reads and writes: Redis 8.8's (streams with idempotency
/// state, 13, and NACKed entries, 14). Redis refuses payloads and files newer than its own (7.0 reads up to 10, 7.2 up to
/// 11, 7.4 up to 12), so Rill writes the oldest version its data fits in (see [`Version`]).
pub const RDB_VERSION: u16 = 14;

/// What Rill writes when the data needs nothing newer: Redis 7.4's, whose semantics the rest
/// of Rill's streams follow.
pub const COMMON_VERSION: u16 = 12;

/// The oldest version Rill writes: Redis 6.2's (streams without the lag counters).
pub const OLDEST_WRITTEN: u16 = 9;

/// Which RDB version to write (`rdb-write-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// [`COMMON_VERSION`], or newer when a value holds state only a newer one can (so that
    /// every Redis 7.4 and later loads the file unless the data truly needs more).
    Auto,
    /// Exactly this one; what it cannot hold is left out and said in the log.
    Fixed(u16),
}

impl Version {
    /// From the directive's text: `auto` or a number.
    pub fn from_config(config: &crate::Config) -> Version {
        match config.get("rdb-write-version").map(str::parse::<u16>) {
            Some(Ok(n)) => Version::Fixed(n.clamp(OLDEST_WRITTEN, RDB_VERSION)),
            _ => Version::Auto,
        }
    }

    /// The version to write for these values.
    pub fn resolve<'a>(self, values: impl IntoIterator<Item = &'a crate::keyspace::Value>) -> u16 {
        match self {
            Version::Fixed(n) => n,
            Version::Auto => values
                .into_iter()
                .map(value::version_needed)
                .fold(COMMON_VERSION, u16::max),
        }
    }
}
