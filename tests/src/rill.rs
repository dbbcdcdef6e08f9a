//! The server under test: Rill in-process, or a second redis-server in selftest mode.
//!
//! `RILL_DIFF_SELFTEST=1` puts a second `redis-server` where Rill would be. Every case must
//! pass Redis-against-Redis; a case that fails there is a bad case (clock-dependent, unmasked
//! nondeterminism), not a Rill bug. This is how the cases themselves are validated.

use crate::oracle::RedisServer;
use std::net::SocketAddr;

/// Set to `1` to run the differential tests against a second redis-server instead of Rill.
pub const SELFTEST_ENV: &str = "RILL_DIFF_SELFTEST";

/// An in-process rill-server on a free port with its files in a scratch directory.
///
/// # Panics
///
/// When it cannot start: that is a bug to see.
pub fn in_process() -> rill_server::RunningServer {
    rill_server::Config::scratch()
        .and_then(rill_server::spawn)
        .unwrap_or_else(|e| panic!("rill-server failed to start in-process: {e}"))
}

/// True when the run should validate the harness and cases (Redis against Redis).
pub fn selftest() -> bool {
    std::env::var(SELFTEST_ENV).as_deref() == Ok("1")
}

/// The server whose replies are checked against the oracle's.
pub enum ServerUnderTest {
    /// `rill-server` running on its own thread and runtime inside the test process.
    Rill(rill_server::RunningServer),
    /// Selftest mode: Redis standing in for Rill.
    Redis(RedisServer),
}

impl ServerUnderTest {
    /// Starts Rill, or a second redis-server in selftest mode (`None` if it is not installed,
    /// with the same skip/require rule as the oracle).
    ///
    /// # Panics
    ///
    /// When Rill fails to start: that is a bug to see, never a reason to skip.
    pub fn start() -> Option<ServerUnderTest> {
        if selftest() {
            return RedisServer::start().map(ServerUnderTest::Redis);
        }
        // Files (a SAVE, a BGSAVE in a generated sequence) go to a scratch directory, never
        // the source tree, and nothing there is loaded at start.
        let config = rill_server::Config::scratch()
            .unwrap_or_else(|e| panic!("no scratch directory for rill-server: {e}"));
        match rill_server::spawn(config) {
            Ok(server) => Some(ServerUnderTest::Rill(server)),
            Err(e) => panic!("rill-server failed to start in-process: {e}"),
        }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        match self {
            ServerUnderTest::Rill(server) => server.addr(),
            ServerUnderTest::Redis(server) => server.addr(),
        }
    }

    /// The name reports use for this side of the comparison.
    pub fn label(&self) -> &'static str {
        match self {
            ServerUnderTest::Rill(_) => "rill",
            ServerUnderTest::Redis(_) => "redis#2",
        }
    }
}
