//! Which commands a shared [`Client`](crate::Client) may carry, and [`Connection`]: a logical
//! connection of one caller's own for the others.
//!
//! Every clone of a `Client` talks through one shared session (embedded) or one multiplexed
//! connection (remote). A command that changes that connection's state (MULTI, SELECT,
//! HELLO, AUTH, CLIENT SETNAME, SUBSCRIBE...) would change it under every other task, so
//! `Client::command` refuses them with [`Error::Usage`] and [`crate::Client::connection`]
//! hands out a connection where they behave as on a connection of their own, exactly as over
//! TCP. Blocking commands (BLPOP, XREAD BLOCK...) run on a session or connection of their
//! own, so they wait without holding anyone up.

use std::collections::VecDeque;

use bytes::Bytes;
use redis::PushKind;
use rill_engine::Reply;

use crate::backend::{from_redis, Dedicated};
use crate::error::{Error, Result};

/// A logical connection one caller owns: its own embedded session, or its own network
/// connection to the server (with the client URL's database and credentials; not on Redis
/// Cluster). Transactions, SELECT, HELLO, CLIENT SETNAME and blocking commands behave on it as
/// on a connection of their own; nothing it does reaches the client's other users.
///
/// After SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE (or, on Redis, CLIENT TRACKING),
/// [`Connection::next_push`] reads what the server pushes: on the embedded engine, and on a
/// server reached over RESP3 (`?protocol=resp3` in the URL; RESP2 cannot tell pushed messages
/// from replies on a shared socket, so there `next_push` says so). Messages wait until read:
/// read them as they come. As a server disconnects a subscriber that lets more than its
/// `client-output-buffer-limit pubsub` pile up, the embedded engine drops such a
/// connection's subscriptions, and a remote connection drops what comes past 32 MB held
/// unread; `next_push` then says so (open a new connection to subscribe afresh remotely). MONITOR and `CLIENT REPLY OFF` are of
/// no use on it (a command after the latter waits for ever). Dropping it closes it.
pub struct Connection {
    link: Dedicated,
    /// Pushed messages taken from the embedded session's mailbox and not read yet.
    waiting: VecDeque<Reply>,
}

impl Connection {
    pub(crate) fn new(link: Dedicated) -> Connection {
        Connection {
            link,
            waiting: VecDeque::new(),
        }
    }

    /// Runs any command and returns the raw reply (server errors become [`Error::Server`]);
    /// a blocking command waits as long as it blocks.
    pub async fn command(&mut self, args: &[&str]) -> Result<Reply> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        self.command_bytes(&args).await
    }

    /// Like [`Connection::command`] with binary arguments.
    pub async fn command_bytes(&mut self, args: &[Bytes]) -> Result<Reply> {
        if args.is_empty() {
            return Err(Error::Usage("an empty command".into()));
        }
        Ok(self.link.call(args).await?.into_tree())
    }

    /// Waits for the next message the server pushes to this connection (a channel's
    /// message, a pattern's pmessage, a shard channel's smessage, Redis's tracking
    /// invalidations),
    /// as a [`Reply::Push`]: `["message", channel, payload]`, `["pmessage", pattern,
    /// channel, payload]`... Confirmations of (un)subscribing are the replies of those
    /// commands, not pushes. A lost connection is [`Error::Connection`]: its subscriptions
    /// are gone with it.
    pub async fn next_push(&mut self) -> Result<Reply> {
        match &mut self.link {
            Dedicated::Embedded(session) => loop {
                if let Some(message) = self.waiting.pop_front() {
                    return Ok(as_push(message));
                }
                let mailbox = session.mailbox();
                if mailbox.is_closed() {
                    return Err(overflowed());
                }
                std::future::poll_fn(|cx| {
                    if mailbox.is_closed() || mailbox.poll_waiting(cx) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
                self.waiting.extend(mailbox.take());
            },
            Dedicated::Remote(_, None) => Err(Error::Usage(
                "pushed messages can be read over RESP3 only: add ?protocol=resp3 to the URL"
                    .into(),
            )),
            Dedicated::Remote(_, Some(pushes)) => loop {
                let push = match pushes.recv().await {
                    Ok(Some(push)) => push,
                    Ok(None) => return Err(Error::connection("the connection closed")),
                    Err(()) => return Err(overflowed()),
                };
                match push.kind {
                    PushKind::Disconnection => {
                        return Err(Error::connection("the connection was lost"))
                    }
                    // The replies of SUBSCRIBE and UNSUBSCRIBE, already returned by them.
                    PushKind::Subscribe
                    | PushKind::PSubscribe
                    | PushKind::SSubscribe
                    | PushKind::Unsubscribe
                    | PushKind::PUnsubscribe
                    | PushKind::SUnsubscribe => continue,
                    kind => {
                        let mut items = vec![Reply::Bulk(Bytes::from(kind.to_string()))];
                        items.extend(push.data.into_iter().map(from_redis));
                        return Ok(Reply::Push(items));
                    }
                }
            },
        }
    }
}

/// What [`Connection::next_push`] says once messages were dropped because too many waited
/// unread.
fn overflowed() -> Error {
    Error::connection(
        "disconnected as Redis disconnects a subscriber: more than the pubsub \
         client-output-buffer-limit of messages waited unread, and those after were dropped",
    )
}

/// A pushed message as [`Connection::next_push`] returns it whatever the protocol: under
/// RESP2 the engine gives a subscriber its messages as arrays.
fn as_push(message: Reply) -> Reply {
    match message {
        Reply::Array(items) => Reply::Push(items),
        other => other,
    }
}

/// How a command must travel on a shared client.
pub(crate) enum Route {
    /// On the shared session or connection.
    Shared,
    /// On a session or connection of its own: it may block.
    Blocking,
}

/// Where `args` may run on a shared client, or why it may not.
pub(crate) fn route(args: &[Bytes]) -> Result<Route> {
    let Some(name) = args.first() else {
        return Err(Error::Usage("an empty command".into()));
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase());
    if changes_connection_state(&name, sub.as_deref()) {
        let what = match &sub {
            Some(sub) if name == "CLIENT" => format!("{name} {sub}"),
            _ => name,
        };
        return Err(Error::Usage(format!(
            "{what} changes the state of the connection, which every clone of this Client \
             shares: run it on a connection of its own (Client::connection)"
        )));
    }
    // Redis's blocking commands that Rill's own table may not know (a remote server has them).
    if matches!(name.as_str(), "WAIT" | "WAITAOF") {
        return Ok(Route::Blocking);
    }
    match rill_engine::command::lookup(args) {
        Ok(spec) if spec.has_flag("blocking") => Ok(Route::Blocking),
        _ => Ok(Route::Shared),
    }
}

/// Commands whose effect outlives their reply on the connection that sent them.
fn changes_connection_state(name: &str, sub: Option<&str>) -> bool {
    match name {
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" | "SELECT" | "HELLO" | "AUTH"
        | "RESET" | "QUIT" | "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE"
        | "SSUBSCRIBE" | "SUNSUBSCRIBE" | "MONITOR" | "READONLY" | "READWRITE" | "SYNC"
        | "PSYNC" | "REPLCONF" | "ASKING" => true,
        "CLIENT" => matches!(
            sub,
            Some(
                "SETNAME" | "SETINFO" | "TRACKING" | "REPLY" | "NO-EVICT" | "NO-TOUCH" | "CACHING"
            )
        ),
        _ => false,
    }
}
