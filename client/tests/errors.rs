//! What errors tell a caller: the cause of a broken connection, the entry a codec failed on.

use std::error::Error as _;

use rill::{Client, Error, IdRange};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    qty: u32,
}

/// A refused connection keeps the I/O error behind it, as its kind and as its source.
#[tokio::test]
async fn a_refused_connection_keeps_its_cause() {
    // A port nobody listens on any more, unless another process took it in the meantime:
    // then what connecting answered tells nothing, and another port is tried.
    let mut tries = 0;
    let err = loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let connected = Client::connect(&format!("redis://127.0.0.1:{port}/")).await;
        tries += 1;
        if tries < 5 && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            continue;
        }
        break connected.err().expect("nobody listens there");
    };
    let Error::Connection(cause) = &err else {
        panic!("expected a connection error, got {err:?}");
    };
    assert_eq!(
        cause.io_kind(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert!(
        err.source().is_some(),
        "the redis error is kept as the source"
    );
}

/// A codec error names the stored entry by its ID, not by a string.
#[tokio::test]
async fn a_codec_error_names_its_entry() {
    let client = Client::embedded();
    let added = client
        .command(&["XADD", "orders", "*", "data", "{\"qty\": \"many\"}"])
        .await
        .expect("xadd");
    let rill::Reply::Bulk(id) = added else {
        panic!("XADD answered {added:?}");
    };
    let id = rill::parse_id(std::str::from_utf8(&id).expect("text")).expect("an ID");
    let read = client
        .stream::<Order>("orders")
        .range(IdRange::all(), None)
        .await;
    match read {
        Err(Error::Codec { id: Some(at), .. }) => assert_eq!(at, id),
        other => panic!("expected a codec error at {id}, got {other:?}"),
    }
}
