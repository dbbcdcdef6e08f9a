//! Redis 7's append-only file format, as bytes in and bytes out (no file I/O here: the host
//! reads and writes the files, so the embedded engine and rill-server share this code).
//!
//! A Redis 7 AOF is a directory (`appenddirname`) holding a manifest (`manifest`) that lists
//! one base file and the incremental files after it, each a log of RESP commands ([`log`]).
//! These modules are the first step of the append-only log: reading and writing the formats
//! exactly as Redis does, checked against files Redis 7.0 wrote.

pub mod log;
pub mod manifest;
pub mod replay;
