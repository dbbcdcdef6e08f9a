//! Connection state is per logical connection, as over TCP: every clone of a `Client` shares
//! one connection, so commands that would change its state under other tasks are refused
//! there and run on a `Client::connection` of their own; blocking commands wait on a session
//! of their own with the client's rights. Run on the embedded engine and on rill-server.

use std::time::Duration;

use rill::{Client, Error, Reply};

mod common;
use common::backends;

fn text(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn client_info(client: &Client) -> String {
    text(
        client
            .command(&["CLIENT", "INFO"])
            .await
            .expect("CLIENT INFO"),
    )
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(text.to_string().into())
}

#[tokio::test]
async fn state_changing_commands_are_refused_on_the_shared_client() {
    for (backend, client, _server) in backends().await {
        for words in [
            &["MULTI"][..],
            &["SELECT", "1"],
            &["HELLO", "3"],
            &["client", "setname", "me"],
            &["WATCH", "k"],
            &["SUBSCRIBE", "news"],
        ] {
            let refused = client.command(words).await;
            assert!(
                matches!(&refused, Err(Error::Usage(text)) if text.contains("Client::connection")),
                "{backend} {words:?}: {refused:?}"
            );
        }
        // Nothing was sent: the shared connection is still in database 0, outside MULTI,
        // unnamed, and speaks RESP2.
        client.command(&["SET", "k", "v"]).await.expect("set");
        assert_eq!(
            client.command(&["GET", "k"]).await,
            Ok(bulk("v")),
            "{backend}"
        );
        let mut own = client.connection().await.expect("connection");
        assert_eq!(own.command(&["GET", "k"]).await, Ok(bulk("v")), "{backend}");
        assert_eq!(
            client.command(&["CLIENT", "GETNAME"]).await,
            Ok(Reply::Null)
        );
    }
}

#[tokio::test]
async fn a_connection_keeps_its_state_to_itself() {
    for (backend, client, _server) in backends().await {
        let mut tx = client.connection().await.expect("connection");
        assert_eq!(tx.command(&["MULTI"]).await, Ok(Reply::ok()), "{backend}");
        assert_eq!(
            tx.command(&["SET", "a", "1"]).await,
            Ok(Reply::Simple("QUEUED".into())),
            "{backend}"
        );
        // Another task's command runs at once; it is not queued in the transaction.
        assert_eq!(
            client.command(&["GET", "a"]).await,
            Ok(Reply::Null),
            "{backend}"
        );
        assert_eq!(
            tx.command(&["EXEC"]).await,
            Ok(Reply::Array(vec![Reply::ok()])),
            "{backend}"
        );
        assert_eq!(
            client.command(&["GET", "a"]).await,
            Ok(bulk("1")),
            "{backend}"
        );

        // SELECT and HELLO change this connection only.
        let mut other_db = client.connection().await.expect("connection");
        other_db.command(&["SELECT", "3"]).await.expect("select");
        other_db
            .command(&["SET", "a", "in db 3"])
            .await
            .expect("set");
        assert_eq!(
            client.command(&["GET", "a"]).await,
            Ok(bulk("1")),
            "{backend}"
        );
        assert_eq!(
            other_db.command(&["GET", "a"]).await,
            Ok(bulk("in db 3")),
            "{backend}"
        );
        let hello = other_db.command(&["HELLO", "3"]).await.expect("hello");
        assert!(matches!(hello, Reply::Map(_)), "{backend}: {hello:?}");
        assert!(client_info(&client).await.contains(" resp=2 "), "{backend}");
        let own = text(other_db.command(&["CLIENT", "INFO"]).await.expect("info"));
        assert!(
            own.contains(" resp=3 ") && own.contains(" db=3 "),
            "{backend}: {own}"
        );
    }
}

#[tokio::test]
async fn blocking_commands_wait_without_holding_up_the_client() {
    for (backend, client, _server) in backends().await {
        let popper = client.clone();
        let pop = tokio::spawn(async move { popper.command(&["BLPOP", "jobs", "10"]).await });
        // The shared connection keeps serving while the pop waits.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let info = text(client.command(&["INFO", "clients"]).await.expect("info"));
            if info.contains("blocked_clients:1") {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend}: never blocked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        client.command(&["RPUSH", "jobs", "a"]).await.expect("push");
        let popped = pop.await.expect("task");
        assert_eq!(
            popped,
            Ok(Reply::Array(vec![bulk("jobs"), bulk("a")])),
            "{backend}"
        );
        assert_eq!(
            client.command(&["LLEN", "jobs"]).await,
            Ok(Reply::Integer(0))
        );
    }
}

/// An embedded client is the process that owns the engine: `requirepass` (which guards the
/// engine's network clients) does not stop it, blocking reads included.
#[tokio::test]
async fn embedded_reads_work_under_requirepass() {
    let engine = rill::engine::Engine::new();
    let set = engine.session().execute(&[
        "CONFIG".into(),
        "SET".into(),
        "requirepass".into(),
        "sesame".into(),
    ]);
    assert_eq!(set, Reply::ok());
    let client = Client::from_engine(engine);
    let stream = client.stream::<u32>("numbers");
    let id = stream.add(&7).await.expect("add");
    let read = stream
        .read_from(rill::StreamId::MIN, None, Some(Duration::from_millis(50)))
        .await
        .expect("blocking read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].id, id);
    let mut own = client.connection().await.expect("connection");
    assert_eq!(
        own.command(&["XLEN", "numbers"]).await,
        Ok(Reply::Integer(1))
    );
}

/// The next pushed message; a failure guard of 10 s.
async fn next_push(conn: &mut rill::Connection) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), conn.next_push())
        .await
        .expect("a message within 10 s")
        .expect("next_push")
}

/// An in-process rill-server, started off the test's runtime (it runs one of its own).
async fn rill_server() -> rill::testing::TestServer {
    tokio::task::spawn_blocking(rill::testing::TestServer::start)
        .await
        .expect("the start thread")
        .expect("rill-server")
}

/// A subscriber connection reads what is published, as pushes, on the embedded engine and
/// over RESP3 (rill-server and, when installed, Redis); over RESP2 it says it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reads_pushed_messages() {
    let rill = rill_server().await;
    let redis = tokio::task::spawn_blocking(rill_tests::oracle::RedisServer::start)
        .await
        .expect("the start thread");
    let mut clients = vec![
        ("embedded", Client::embedded()),
        (
            "rill-server/resp3",
            Client::connect(&format!("{}?protocol=resp3", rill.url()))
                .await
                .expect("connect"),
        ),
    ];
    if let Some(redis) = &redis {
        let url = format!("redis://{}/?protocol=resp3", redis.addr());
        clients.push((
            "redis-server/resp3",
            Client::connect(&url).await.expect("connect"),
        ));
    }
    for (backend, client) in clients {
        let mut subscriber = client.connection().await.expect("connection");
        subscriber
            .command(&["SUBSCRIBE", "news"])
            .await
            .expect("SUBSCRIBE");
        subscriber
            .command(&["PSUBSCRIBE", "n*"])
            .await
            .expect("PSUBSCRIBE");
        let receivers = client
            .command(&["PUBLISH", "news", "hello"])
            .await
            .expect("PUBLISH");
        assert_eq!(receivers, Reply::Integer(2), "{backend}");
        assert_eq!(
            next_push(&mut subscriber).await,
            Reply::Push(vec![bulk("message"), bulk("news"), bulk("hello")]),
            "{backend}"
        );
        assert_eq!(
            next_push(&mut subscriber).await,
            Reply::Push(vec![
                bulk("pmessage"),
                bulk("n*"),
                bulk("news"),
                bulk("hello")
            ]),
            "{backend}"
        );
    }
    let resp2 = Client::connect(&rill.url()).await.expect("connect");
    let mut conn = resp2.connection().await.expect("connection");
    match conn.next_push().await {
        Err(Error::Usage(message)) => assert!(message.contains("RESP3"), "{message}"),
        other => panic!("RESP2 next_push: {other:?}"),
    }
}

/// An embedded subscriber that lets more than the pubsub output limit pile up is
/// disconnected as Redis disconnects one: `next_push` says so instead of waiting for ever,
/// and subscribing again starts afresh.
#[tokio::test]
async fn an_embedded_subscriber_past_the_output_limit_is_told() {
    let mut config = rill_engine::Config::default();
    config
        .set("client-output-buffer-limit", "pubsub 1024 0 0", true)
        .expect("limit");
    let client = Client::from_engine(rill_engine::Engine::with_config(config));
    let mut subscriber = client.connection().await.expect("connection");
    subscriber
        .command(&["SUBSCRIBE", "news"])
        .await
        .expect("SUBSCRIBE");
    let payload = "x".repeat(100);
    for _ in 0..20 {
        client
            .command(&["PUBLISH", "news", &payload])
            .await
            .expect("PUBLISH");
    }
    let outcome = tokio::time::timeout(Duration::from_secs(10), subscriber.next_push())
        .await
        .expect("an answer within 10 s, not a wait for ever");
    match outcome {
        Err(Error::Connection(e)) => assert!(e.message().contains("pubsub"), "{e:?}"),
        other => panic!("expected a disconnection, got {other:?}"),
    }
    subscriber
        .command(&["SUBSCRIBE", "news"])
        .await
        .expect("SUBSCRIBE again");
    client
        .command(&["PUBLISH", "news", "again"])
        .await
        .expect("PUBLISH");
    assert_eq!(
        next_push(&mut subscriber).await,
        Reply::Push(vec![bulk("message"), bulk("news"), bulk("again")])
    );
}

/// A remote subscriber that lets more than 32 MB of messages pile up unread (Redis's
/// default pubsub hard limit) is told so by `next_push` after the messages it holds, rather
/// than growing without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_subscriber_holds_at_most_32_mb_unread() {
    let rill = rill_server().await;
    let client = Client::connect(&format!("{}?protocol=resp3", rill.url()))
        .await
        .expect("connect");
    let mut subscriber = client.connection().await.expect("connection");
    subscriber
        .command(&["SUBSCRIBE", "big"])
        .await
        .expect("SUBSCRIBE");
    let payload = "x".repeat(100 * 1024);
    for _ in 0..400 {
        client
            .command(&["PUBLISH", "big", &payload])
            .await
            .expect("PUBLISH");
    }
    // The client takes the messages off the socket as they come; give the last of them a
    // moment to arrive before reading (loopback: far less than this).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut read = 0;
    let outcome = loop {
        match tokio::time::timeout(Duration::from_secs(10), subscriber.next_push())
            .await
            .expect("an answer within 10 s")
        {
            Ok(_) => read += 1,
            Err(e) => break e,
        }
    };
    assert!((300..400).contains(&read), "read {read} of 400 (40 MB)");
    match outcome {
        Error::Connection(e) => assert!(e.message().contains("pubsub"), "{e:?}"),
        other => panic!("expected the overflow, got {other:?}"),
    }

    // One message past the bound on its own wakes a reader already waiting for it (the
    // server's own pubsub limit, equal by default, is lifted so the message gets through).
    client
        .command(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 0 0",
        ])
        .await
        .expect("CONFIG SET");
    let mut waiting = client.connection().await.expect("connection");
    waiting
        .command(&["SUBSCRIBE", "huge"])
        .await
        .expect("SUBSCRIBE");
    let reader = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(10), waiting.next_push()).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let huge = "y".repeat(33 * 1024 * 1024);
    client
        .command(&["PUBLISH", "huge", &huge])
        .await
        .expect("PUBLISH");
    match reader.await.expect("the reader task") {
        Ok(Err(Error::Connection(e))) => assert!(e.message().contains("pubsub"), "{e:?}"),
        other => panic!("expected the overflow, got {other:?}"),
    }
}
