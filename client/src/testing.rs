//! A real `rill-server` inside the test process, on `127.0.0.1` and a free port, stopped when
//! dropped: code that talks to Redis through any client (the `redis` crate, fred, ...) can be
//! tested with no Redis installed.
//!
//! ```
//! let server = rill::testing::TestServer::start().expect("server");
//! let url = server.url(); // redis://127.0.0.1:PORT/
//! # assert!(url.starts_with("redis://127.0.0.1:"));
//! ```

use std::net::SocketAddr;

use crate::error::{Error, Result};

/// An in-process server; stops on drop.
pub struct TestServer {
    server: rill_server::RunningServer,
}

impl TestServer {
    /// Starts a server with Rill's defaults on a free loopback port, its files (SAVE,
    /// BGSAVE) in a scratch directory of its own rather than the working directory.
    pub fn start() -> Result<TestServer> {
        let config = rill_server::Config::scratch().map_err(|e| Error::Storage(e.to_string()))?;
        TestServer::with_config(config)
    }

    /// Starts a server with a given configuration (set `port: 0` for a free port).
    pub fn with_config(config: rill_server::Config) -> Result<TestServer> {
        let server = rill_server::spawn(config).map_err(Error::connection_caused_by)?;
        Ok(TestServer { server })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `redis://127.0.0.1:PORT/`, for any Redis client.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.server.addr())
    }

    /// The engine behind the server, to inspect or seed state directly.
    pub fn engine(&self) -> &rill_engine::Engine {
        self.server.engine()
    }

    /// Stops the server now (dropping it does the same).
    pub fn stop(self) {
        self.server.shutdown();
    }
}
