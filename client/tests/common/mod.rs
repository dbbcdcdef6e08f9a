//! What the client's test files share: time guards, quick consumer options, and the two
//! backends most tests run on.
#![allow(dead_code)] // each test file uses a part

use std::future::Future;
use std::time::Duration;

use rill::testing::TestServer;
use rill::{Client, ConsumerOptions};

/// Fails the test if `fut` takes longer than 30 s: a hang is a bug, not a slow machine.
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("did not finish in 30 s")
}

/// A two-thread runtime for a test that starts its servers outside it (a `#[test]`, not a
/// `#[tokio::test]`).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Quick options for tests: short blocks and backoffs.
pub fn quick() -> ConsumerOptions {
    ConsumerOptions::default()
        .block(Duration::from_millis(20))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// The embedded engine, and a client of a fresh rill-server (kept alive by the caller).
pub async fn backends() -> Vec<(&'static str, Client, Option<TestServer>)> {
    let server = TestServer::start().expect("server");
    let remote = Client::connect(&server.url()).await.expect("connect");
    vec![
        ("embedded", Client::embedded(), None),
        ("rill-server", remote, Some(server)),
    ]
}
