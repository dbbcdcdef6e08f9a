//! # rill
//!
//! The typed client for Rill and Redis Streams. It will offer one stream API (publish, read,
//! consume with consumer groups, acknowledge, reclaim, dead-letter, trim, health) over three
//! backends: the embedded engine (`rill-engine`, in this process), `rill-server`, and real
//! Redis or Redis Cluster.
//!
//! Today the crate re-exports the embedded engine, which already runs every stream command
//! with Redis's semantics:
//!
//! ```
//! use rill::engine::{Bytes, Engine, Reply};
//!
//! let engine = Engine::new();
//! let mut session = engine.session();
//! let args: Vec<Bytes> = ["XADD", "orders", "1-1", "item", "book"]
//!     .iter()
//!     .map(|w| Bytes::from(w.to_string()))
//!     .collect();
//! assert_eq!(session.execute(&args), Reply::text("1-1"));
//! ```
#![deny(unsafe_code)]

/// The embedded engine: link it and use streams with no server.
pub use rill_engine as engine;
