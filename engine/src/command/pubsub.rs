//! The pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB (CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS,
//! SHARDNUMSUB, HELP). A (un)subscribe answers one confirmation per name, as a push (an array
//! under RESP2). Under RESP2 a subscribed client may only run these, PING, QUIT and RESET
//! (see [`subscriber_mode_refusal`]).

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::pubsub::Kind;
use crate::reply::Reply;
use crate::State;

/// The pub/sub commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::PubSub);
    let sub: &'static [&'static str] = &["pubsub", "noscript", "loading", "stale"];
    let publish: &'static [&'static str] = &["pubsub", "loading", "stale", "fast"];
    let info: &'static [&'static str] = &["pubsub", "loading", "stale"];
    let none = (0, 0, 0);
    vec![
        spec(
            "subscribe",
            -2,
            sub,
            none,
            "2.0.0",
            "Listens for messages published to channels.",
            subscribe,
        ),
        spec(
            "unsubscribe",
            -1,
            sub,
            none,
            "2.0.0",
            "Stops listening to messages posted to channels.",
            unsubscribe,
        ),
        spec(
            "psubscribe",
            -2,
            sub,
            none,
            "2.0.0",
            "Listens for messages published to channels that match one or more patterns.",
            psubscribe,
        ),
        spec(
            "punsubscribe",
            -1,
            sub,
            none,
            "2.0.0",
            "Stops listening to messages published to channels that match one or more patterns.",
            punsubscribe,
        ),
        spec(
            "ssubscribe",
            -2,
            sub,
            (1, -1, 1),
            "7.0.0",
            "Listens for messages published to shard channels.",
            ssubscribe,
        ),
        spec(
            "sunsubscribe",
            -1,
            sub,
            (1, -1, 1),
            "7.0.0",
            "Stops listening to messages posted to shard channels.",
            sunsubscribe,
        ),
        spec(
            "publish",
            3,
            publish,
            none,
            "2.0.0",
            "Posts a message to a channel.",
            publish_command,
        ),
        spec(
            "spublish",
            3,
            publish,
            (1, 1, 1),
            "7.0.0",
            "Post a message to a shard channel",
            spublish,
        ),
        spec(
            "pubsub",
            -2,
            &[],
            none,
            "2.8.0",
            "A container for Pub/Sub commands.",
            super::container_arity,
        )
        .with_subcommands(vec![
            spec(
                "pubsub|channels",
                -2,
                info,
                none,
                "2.8.0",
                "Returns the active channels.",
                channels,
            ),
            spec(
                "pubsub|numsub",
                -2,
                info,
                none,
                "2.8.0",
                "Returns a count of subscribers to channels.",
                numsub,
            ),
            spec(
                "pubsub|numpat",
                2,
                info,
                none,
                "2.8.0",
                "Returns a count of unique pattern subscriptions.",
                numpat,
            ),
            spec(
                "pubsub|shardchannels",
                -2,
                info,
                none,
                "7.0.0",
                "Returns the active shard channels.",
                shardchannels,
            ),
            spec(
                "pubsub|shardnumsub",
                -2,
                info,
                none,
                "7.0.0",
                "Returns the count of subscribers of shard channels.",
                shardnumsub,
            ),
            spec(
                "pubsub|help",
                2,
                &["loading", "stale"],
                none,
                "6.2.0",
                "Returns helpful text about the different subcommands.",
                help,
            ),
        ]),
    ]
}

/// The commands a RESP2 client may run while it is subscribed.
const ALLOWED_WHILE_SUBSCRIBED: [&str; 9] = [
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Redis's refusal of any other command from a subscribed RESP2 client (RESP3 has no such
/// mode: pushes and replies are told apart by their type).
pub fn subscriber_mode_refusal(ctx: &Ctx, name: &str) -> Option<String> {
    if ctx.session.protocol >= 3 || !ctx.state.pubsub.is_subscriber(ctx.session.id) {
        return None;
    }
    let base = name.split('|').next().unwrap_or(name);
    (!ALLOWED_WHILE_SUBSCRIBED.contains(&base)).then(|| {
        format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    })
}

/// PING from a subscribed RESP2 client: `["pong", message]`, as Redis answers there.
pub fn subscriber_ping(ctx: &Ctx, args: &[Bytes]) -> Option<Reply> {
    if ctx.session.protocol >= 3 || !ctx.state.pubsub.is_subscriber(ctx.session.id) {
        return None;
    }
    Some(Reply::Array(vec![
        Reply::text("pong"),
        Reply::Bulk(args.get(1).cloned().unwrap_or_default()),
    ]))
}

/// The count a confirmation carries: shard subscriptions count apart from the others.
fn count_after(ctx: &Ctx, kind: Kind) -> i64 {
    let (channels, patterns, shard) = ctx.state.pubsub.counts(ctx.session.id);
    match kind {
        Kind::Shard => shard as i64,
        Kind::Channel | Kind::Pattern => (channels + patterns) as i64,
    }
}

fn confirmation(verb: &str, name: Option<Bytes>, count: i64) -> Reply {
    Reply::Push(vec![
        Reply::text(verb),
        name.map_or(Reply::Null, Reply::Bulk),
        Reply::Integer(count),
    ])
}

fn subscribe_to(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Reply {
    let (id, mailbox) = (ctx.session.id, ctx.session.mailbox.clone());
    let mut replies = Vec::with_capacity(args.len() - 1);
    for name in &args[1..] {
        ctx.state.pubsub.subscribe(id, &mailbox, kind, name);
        replies.push(confirmation(
            kind.verb(true),
            Some(name.clone()),
            count_after(ctx, kind),
        ));
    }
    Reply::Many(replies)
}

/// Unsubscribes from the names given, or from everything of `kind` when none is.
pub(crate) fn unsubscribe_from(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Reply {
    let id = ctx.session.id;
    let names = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ctx.state.pubsub.subscriptions(id, kind)
    };
    if names.is_empty() {
        return confirmation(kind.verb(false), None, count_after(ctx, kind));
    }
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        ctx.state.pubsub.unsubscribe(id, kind, &name);
        replies.push(confirmation(
            kind.verb(false),
            Some(name),
            count_after(ctx, kind),
        ));
    }
    Reply::Many(replies)
}

/// Ends every subscription of the client, without confirmations (RESET).
pub(crate) fn leave_all(ctx: &mut Ctx) {
    ctx.state.pubsub.remove_client(ctx.session.id);
}

fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_to(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_to(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    subscribe_to(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_from(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_from(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    unsubscribe_from(ctx, args, Kind::Shard)
}

/// Delivers `payload` on `channel`; how many subscriptions received it. Subscribers that
/// let more than the `pubsub` class's output limit pile up (hard, or soft for longer than
/// its seconds) are disconnected.
pub(crate) fn publish(state: &mut State, channel: &Bytes, payload: &Bytes, shard: bool) -> i64 {
    let limit = state.config.output_limits[2];
    let now = crate::now_ms();
    let delivery = state.pubsub.publish(channel, payload, shard, &limit, now);
    for client in delivery.overflowing {
        eprintln!("Client id={client} closed for overcoming of output buffer limits (pubsub).");
        state.pubsub.disconnect(client);
        if let Some(kill) = state
            .clients
            .by_id
            .get(&client)
            .and_then(|c| c.kill.clone())
        {
            kill();
        }
    }
    delivery.receivers
}

fn publish_command(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Integer(publish(ctx.state, &args[1], &args[2], false))
}

fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Integer(publish(ctx.state, &args[1], &args[2], true))
}

fn active(ctx: &mut Ctx, args: &[Bytes], shard: bool) -> Reply {
    if args.len() > 3 {
        return Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    }
    let pattern = args.get(2).map(|p| p.as_ref());
    Reply::Array(
        ctx.state
            .pubsub
            .active(shard, pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    )
}

fn channels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    active(ctx, args, false)
}

fn shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    active(ctx, args, true)
}

fn counts(ctx: &mut Ctx, args: &[Bytes], shard: bool) -> Reply {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for channel in &args[2..] {
        out.push(Reply::Bulk(channel.clone()));
        out.push(Reply::Integer(
            ctx.state.pubsub.subscriber_count(shard, channel) as i64,
        ));
    }
    Reply::Array(out)
}

fn numsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    counts(ctx, args, false)
}

fn shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    counts(ctx, args, true)
}

fn numpat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.state.pubsub.totals().1 as i64)
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    super::help_reply(
        "pubsub",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
