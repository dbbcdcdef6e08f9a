//! Redis 7's append-only file, shared by rill-server and the embedded engine (only [`load`]
//! touches files; the formats are bytes in, bytes out).
//!
//! A Redis 7 AOF is a directory (`appenddirname`) holding a manifest ([`manifest`]) that lists
//! one base file and the incremental files after it, each a log of RESP commands ([`log`]).
//! [`replay`] runs a log on an engine; [`load`] reads a whole directory with Redis's rules
//! for torn and damaged files. This is the reading half of the append-only log, checked
//! against files Redis 7.0 wrote; writing (the propagation seam, fsync policies, rewrites)
//! comes next.

pub mod load;
pub mod log;
pub mod manifest;
pub mod replay;
