//! Commands given as values rather than text, by a client in the same process (the `rill`
//! client's embedded backend): an XADD of fields it already holds, an XACK of IDs it already
//! holds. They take the same path as their text: the same table entry, refusals (NOAUTH,
//! OOM, MISCONF, LOADING...), MULTI queuing, counting, slow log, append-only log, keyspace
//! events and wake-ups. Only the formatting of arguments that the engine would parse back
//! is skipped; their text is made when something keeps it (a MULTI queue, the slow log, the
//! log of a command that does not log itself).

use std::borrow::Cow;
use std::sync::OnceLock;

use bytes::Bytes;

use super::{table, Ctx, Spec};
use crate::id::StreamId;
use crate::reply::Reply;

/// A command as values.
#[derive(Debug, Clone, Copy)]
pub enum Prepared<'a> {
    /// `XADD key * field value [field value ...]`: appends an entry with an ID from the clock.
    Add {
        /// The stream.
        key: &'a Bytes,
        /// The entry's field/value pairs, in order.
        fields: &'a [(Bytes, Bytes)],
    },
    /// `XACK key group id [id ...]`.
    Ack {
        /// The stream.
        key: &'a Bytes,
        /// The consumer group.
        group: &'a Bytes,
        /// The entries acknowledged.
        ids: &'a [StreamId],
    },
}

impl Prepared<'_> {
    /// The command's name in the table.
    pub fn name(&self) -> &'static str {
        match self {
            Prepared::Add { .. } => "xadd",
            Prepared::Ack { .. } => "xack",
        }
    }

    /// The command's table entry (looked up once per kind: these run per message).
    pub(crate) fn spec(&self) -> Option<&'static Spec> {
        static ADD: OnceLock<Option<&'static Spec>> = OnceLock::new();
        static ACK: OnceLock<Option<&'static Spec>> = OnceLock::new();
        let cell = match self {
            Prepared::Add { .. } => &ADD,
            Prepared::Ack { .. } => &ACK,
        };
        *cell.get_or_init(|| table().get(self.name()))
    }

    /// How many arguments its text has (name included), for the arity check.
    fn argc(&self) -> usize {
        match self {
            Prepared::Add { fields, .. } => 3 + 2 * fields.len(),
            Prepared::Ack { ids, .. } => 3 + ids.len(),
        }
    }

    /// The command as text, as a client would have sent it.
    pub fn to_args(&self) -> Vec<Bytes> {
        match *self {
            Prepared::Add { key, fields } => {
                let mut args = Vec::with_capacity(self.argc());
                args.extend([
                    Bytes::from_static(b"XADD"),
                    key.clone(),
                    Bytes::from_static(b"*"),
                ]);
                for (field, value) in fields {
                    args.push(field.clone());
                    args.push(value.clone());
                }
                args
            }
            Prepared::Ack { key, group, ids } => {
                let mut args = Vec::with_capacity(self.argc());
                args.extend([Bytes::from_static(b"XACK"), key.clone(), group.clone()]);
                args.extend(StreamId::texts(ids));
                args
            }
        }
    }

    /// Runs the command (it passed every check).
    fn run(&self, ctx: &mut Ctx) -> Reply {
        match *self {
            Prepared::Add { key, fields } => super::xadd::add_fields(ctx, key, fields),
            Prepared::Ack { key, group, ids } => {
                super::xack::ack(ctx, key, group, || Ok(Cow::Borrowed(ids)))
            }
        }
    }
}

/// A command on its way through [`super::dispatch`]: the text a client sent, or values.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// The whole argument vector, name first.
    Text(&'a [Bytes]),
    /// A command as values.
    Prepared(Prepared<'a>),
}

impl<'a> Request<'a> {
    /// How many arguments its text has, name included.
    pub(crate) fn argc(&self) -> usize {
        match self {
            Request::Text(args) => args.len(),
            Request::Prepared(p) => p.argc(),
        }
    }

    /// Its text: borrowed when it came as text, made when it came as values.
    pub fn args(&self) -> Cow<'a, [Bytes]> {
        match self {
            Request::Text(args) => Cow::Borrowed(args),
            Request::Prepared(p) => Cow::Owned(p.to_args()),
        }
    }

    /// The bytes of all its arguments, name included, without making its text.
    pub(crate) fn text_len(&self) -> usize {
        match self {
            Request::Text(args) => args.iter().map(|a| a.len()).sum(),
            Request::Prepared(Prepared::Add { key, fields }) => {
                4 + key.len() + 1 + fields.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>()
            }
            Request::Prepared(Prepared::Ack { key, group, ids }) => {
                let mut text = [0u8; 41];
                let ids: usize = ids.iter().map(|id| id.text(&mut text).len()).sum();
                4 + key.len() + group.len() + ids
            }
        }
    }

    /// Whether it is the command `name` (lower case).
    pub(crate) fn is(&self, name: &str) -> bool {
        match self {
            Request::Text(args) => args[0].eq_ignore_ascii_case(name.as_bytes()),
            Request::Prepared(p) => p.name() == name,
        }
    }

    /// Runs it with its table entry's handler, or its own for values.
    pub(crate) fn run(&self, ctx: &mut Ctx, spec: &Spec) -> Reply {
        match self {
            Request::Text(args) => (spec.run)(ctx, args),
            Request::Prepared(p) => p.run(ctx),
        }
    }
}
