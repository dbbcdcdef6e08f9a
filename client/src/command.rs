//! What the client sends: a command's argument text, or, for the commands the embedded
//! engine takes as values ([`Prepared`]), those values. On the embedded engine an XADD of
//! fields the codec just made, or an XACK of IDs the consumer holds, then skips formatting
//! text that the engine would parse back; a remote server gets the same command as text.

use bytes::Bytes;
use rill_engine::{Prepared, StreamId};

use crate::codec::Fields;

/// A command to send.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// The whole argument vector, name first.
    Text(Vec<Bytes>),
    /// `XADD key * field value ...`.
    Add { key: Bytes, fields: Fields },
    /// `XACK key group id ...`.
    Ack {
        key: Bytes,
        group: Bytes,
        ids: Vec<StreamId>,
    },
}

impl Command {
    /// The command as values, for the embedded engine; `None` for text.
    pub(crate) fn prepared(&self) -> Option<Prepared<'_>> {
        match self {
            Command::Text(_) => None,
            Command::Add { key, fields } => Some(Prepared::Add { key, fields }),
            Command::Ack { key, group, ids } => Some(Prepared::Ack { key, group, ids }),
        }
    }

    /// The command as text, for a server.
    pub(crate) fn into_args(self) -> Vec<Bytes> {
        match self {
            Command::Text(args) => args,
            other => other.prepared().map(|p| p.to_args()).unwrap_or_default(),
        }
    }
}

impl From<Vec<Bytes>> for Command {
    fn from(args: Vec<Bytes>) -> Command {
        Command::Text(args)
    }
}

impl Command {
    /// Runs the command on an embedded session.
    pub(crate) fn execute_on(&self, session: &mut rill_engine::Session) -> rill_engine::Reply {
        match (self, self.prepared()) {
            (_, Some(prepared)) => session.execute_prepared(prepared),
            (Command::Text(args), None) => session.execute(args),
            (_, None) => rill_engine::Reply::Null,
        }
    }
}
