//! What the client sends: a command's argument text, or, for the commands the embedded
//! engine takes as values ([`Prepared`]), those values. On the embedded engine an XADD of
//! fields the codec just made, or an XACK of IDs the consumer holds, then skips formatting
//! text that the engine would parse back; a remote server gets the same command as text.

use bytes::Bytes;
use rill_engine::{Prepared, Reply, Request, Session, StreamId};

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
    /// The command as the engine takes it: values for the commands it takes so, else text.
    pub(crate) fn request(&self) -> Request<'_> {
        match self {
            Command::Text(args) => Request::Text(args),
            Command::Add { key, fields } => Request::Prepared(Prepared::Add { key, fields }),
            Command::Ack { key, group, ids } => {
                Request::Prepared(Prepared::Ack { key, group, ids })
            }
        }
    }

    /// Runs the command on an embedded session.
    pub(crate) fn execute_on(&self, session: &mut Session) -> Reply {
        match self.request() {
            Request::Text(args) => session.execute(args),
            Request::Prepared(values) => session.execute_prepared(values),
        }
    }

    /// The command as text, for a server.
    pub(crate) fn into_args(self) -> Vec<Bytes> {
        match self {
            Command::Text(args) => args,
            values => values.request().args().into_owned(),
        }
    }
}

impl From<Vec<Bytes>> for Command {
    fn from(args: Vec<Bytes>) -> Command {
        Command::Text(args)
    }
}
