//! Keyspace notifications (`notify-keyspace-events`): a change to a key is published on
//! `__keyspace@<db>__:<key>` (the event's name as the message, class `K`) and on
//! `__keyevent@<db>__:<event>` (the key as the message, class `E`), for the classes the user
//! turned on: `g` generic, `$` strings, `l` lists, `s` sets, `h` hashes, `z` sorted sets,
//! `t` streams, `x` expired, `e` evicted, `m` key misses, `n` new keys, `d` module types
//! (none in Rill), `A` for `g$lshzxetd`.
//!
//! Commands report their events through [`crate::command::Ctx::notify`]. Events that happen
//! inside a database (a key created, a key that expired) are queued there and published
//! after, in order, by [`publish_queued`].

use bytes::Bytes;

use crate::State;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u16 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u16 = 1 << 1;
/// `g`: DEL, EXPIRE, RENAME... .
pub const GENERIC: u16 = 1 << 2;
/// `$`: string commands.
pub const STRING: u16 = 1 << 3;
/// `l`: list commands.
pub const LIST: u16 = 1 << 4;
/// `s`: set commands.
pub const SET: u16 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u16 = 1 << 6;
/// `z`: sorted-set commands.
pub const ZSET: u16 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u16 = 1 << 8;
/// `e`: a key was evicted.
pub const EVICTED: u16 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u16 = 1 << 10;
/// `m`: a read missed its key.
pub const KEY_MISS: u16 = 1 << 11;
/// `d`: module types.
pub const MODULE: u16 = 1 << 12;
/// `n`: a key was created.
pub const NEW: u16 = 1 << 13;
/// `A`: every class but `m` and `n`.
pub const ALL: u16 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class letters in the order Redis prints them.
const LETTERS: [(char, u16); 11] = [
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
    ('n', NEW),
];

/// The flags a `notify-keyspace-events` value sets; `None` for an unknown character.
pub fn parse(text: &str) -> Option<u16> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            other => LETTERS.iter().find(|(l, _)| *l == other)?.1,
        };
    }
    Some(flags)
}

/// The value CONFIG GET shows for `flags`, as Redis writes it (with `A`, a set `n` is not
/// shown, as in Redis).
pub fn format(flags: u16) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        out.extend(
            LETTERS
                .iter()
                .filter(|(_, f)| flags & f != 0)
                .map(|(l, _)| *l),
        );
    }
    for (letter, flag) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
        if flags & flag != 0 {
            out.push(letter);
        }
    }
    out
}

/// Publishes `event` of `class` on `key` in database `db`, if the configuration asks for it.
pub fn publish(state: &mut State, db: usize, class: u16, event: &str, key: &[u8]) {
    let flags = state.config.keyspace_events;
    if flags & class == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        let event = Bytes::copy_from_slice(event.as_bytes());
        crate::command::pubsub::publish(state, &Bytes::from(channel), &event, false);
    }
    if flags & KEYEVENT != 0 {
        let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
        crate::command::pubsub::publish(state, &channel, &Bytes::copy_from_slice(key), false);
    }
}

/// Publishes the events the databases queued (keys created, keys expired), oldest first.
pub fn publish_queued(state: &mut State) {
    if state.config.keyspace_events == 0 {
        return;
    }
    for db in 0..state.keyspace.dbs.len() {
        for (class, event, key) in state.keyspace.dbs[db].take_key_events() {
            publish(state, db, class, event, &key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_print_as_redis() {
        assert_eq!(parse("KEA").map(format), Some("AKE".into()));
        assert_eq!(parse("AKEmn").map(format), Some("AKEm".into()));
        assert_eq!(parse("g$lshzxetdK").map(format), Some("AK".into()));
        assert_eq!(parse("Elx").map(format), Some("lxE".into()));
        assert_eq!(parse("Kq"), None);
        assert_eq!(parse(""), Some(0));
    }
}

#[cfg(test)]
mod delivery_tests {
    use crate::test_support::run;
    use crate::{Engine, Reply};

    fn texts(messages: Vec<Reply>) -> Vec<String> {
        messages
            .into_iter()
            .map(|m| match m {
                Reply::Push(items) => items
                    .iter()
                    .map(|i| match i {
                        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn expired_and_evicted_keys_are_announced() {
        let engine = Engine::new();
        let mut listener = engine.session();
        let mut c = engine.session();
        run(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Exe"]);
        run(&mut listener, &["SUBSCRIBE", "__keyevent@0__:expired"]);
        listener.take_messages();
        run(&mut c, &["SET", "k", "v", "PX", "1"]);
        run(&mut c, &["SET", "other", "v", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        // One expires when read, the other in the cron's sweep.
        assert_eq!(run(&mut c, &["GET", "k"]), Reply::Null);
        engine.active_expire_cycle();
        assert_eq!(
            texts(listener.take_messages()),
            [
                "message __keyevent@0__:expired k",
                "message __keyevent@0__:expired other"
            ]
        );
    }
}
