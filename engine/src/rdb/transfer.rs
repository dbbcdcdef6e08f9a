//! A snapshot sent over a client connection, as a Redis master sends one to a replica:
//! what `redis-cli --rdb <file>` asks for (`REPLCONF capa eof`, `REPLCONF rdb-only 1`, then
//! SYNC) to take a backup of a running server.
//!
//! The command takes a copy-on-write snapshot under the engine lock (as BGSAVE does); the
//! host (rill-server's connection) then writes the transfer to the socket from a thread of
//! its own while other clients are served. Two framings, as Redis has them:
//!
//! - `capa eof` (diskless): `$EOF:<40-byte mark>\r\n`, the RDB as it is encoded, the mark;
//!   nothing is buffered beyond a chunk.
//! - otherwise: `$<length>\r\n` and the RDB, which must then be built whole first to know
//!   its length.
//!
//! PSYNC answers `+FULLRESYNC <replid> <offset>` before either. Rill does not replicate, so
//! the connection closes after the snapshot, as Redis closes an rdb-only replica's.

use super::file::WriteOptions;
use super::save;
use crate::aof::base::Snapshot;

/// One snapshot to send.
pub struct Transfer {
    snapshot: Snapshot,
    options: WriteOptions,
    /// `+FULLRESYNC ...\r\n` for PSYNC.
    fullresync: Option<String>,
    /// The end mark of an EOF-framed transfer (`capa eof`).
    eof_mark: Option<String>,
    now_ms: u64,
}

impl Transfer {
    /// A transfer of `snapshot`; `eof_mark` (40 bytes) chooses the EOF framing.
    pub fn new(
        snapshot: Snapshot,
        config: &crate::Config,
        fullresync: Option<String>,
        eof_mark: Option<String>,
        now_ms: u64,
    ) -> Transfer {
        Transfer {
            snapshot,
            options: save::options(config, false),
            fullresync,
            eof_mark,
            now_ms,
        }
    }

    /// Writes the whole transfer into `sink`, a chunk at a time (the host sends each to the
    /// socket; an error from it, such as the client leaving, stops the encoding).
    pub fn write(&self, sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
        if let Some(line) = &self.fullresync {
            sink(format!("+{line}\r\n").as_bytes())?;
        }
        match &self.eof_mark {
            Some(mark) => {
                sink(format!("$EOF:{mark}\r\n").as_bytes())?;
                super::file::write(&self.snapshot, self.options, self.now_ms, sink)?;
                sink(mark.as_bytes())
            }
            None => {
                let bytes = super::file::encode(&self.snapshot, self.options, self.now_ms);
                sink(format!("${}\r\n", bytes.len()).as_bytes())?;
                sink(&bytes)
            }
        }
    }
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("keys", &self.snapshot.keys())
            .field("eof_mark", &self.eof_mark)
            .finish()
    }
}
