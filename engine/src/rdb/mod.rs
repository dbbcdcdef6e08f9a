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

/// The RDB version Rill writes by default: Redis 7.4's, whose semantics Rill follows. Redis
/// refuses payloads and files newer than its own (7.0 reads up to 10, 7.2 up to 11): the
/// `rdb-write-version` directive makes Rill write an older one.
pub const RDB_VERSION: u16 = 12;

/// The oldest version Rill writes: Redis 6.2's (streams without the lag counters).
pub const OLDEST_WRITTEN: u16 = 9;
