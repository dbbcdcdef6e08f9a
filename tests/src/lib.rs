//! Integration tests for Rill: differential testing against Debian's `redis-server`.
//!
//! Redis is Rill's specification. Rather than writing expected replies by hand (and getting
//! them subtly wrong), every case is sent to a real `redis-server` and to Rill, and the two
//! replies must match byte for byte, errors included. Only what legitimately depends on the
//! clock or on hash order is masked, and only where a case file asks for it.
//!
//! # Layout
//!
//! - [`reply`]: the RESP value a server sent back, and how a report prints it.
//! - [`resp`]: encoding commands and decoding one reply frame (order-preserving).
//! - [`client`]: a blocking connection: send a command, read exactly one reply.
//! - [`oracle`]: Debian's `redis-server` started on a free port, killed on drop.
//! - [`rill`]: the server under test: in-process `rill-server`, or a second `redis-server`
//!   when `RILL_DIFF_SELFTEST=1` (to validate the harness and the cases against Redis itself).
//! - [`case`]: the case-file format (`tests/cases/*.txt`) and its parser.
//! - [`mask`]: what may differ between two correct servers, and how replies are normalised.
//! - [`diff`]: runs cases on both servers and collects every mismatch into a report.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod case;
pub mod client;
pub mod cluster;
pub mod diff;
pub mod direct;
pub mod fuzz;
pub mod mask;
pub mod oracle;
pub mod property;
pub mod reply;
pub mod resp;
pub mod rill;
