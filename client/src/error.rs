//! One error type for every backend: what the server refused, what could not be decoded, and
//! what went wrong on the way.

use std::fmt;
use std::sync::Arc;

use rill_engine::StreamId;

/// Everything a `rill` call can fail with. New kinds of failure may be added: match with a
/// wildcard arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered an error: `code` is its first word (`NOGROUP`, `BUSYGROUP`,
    /// `WRONGTYPE`, `ERR`...), `message` the whole text.
    Server {
        /// The first word of the error: what to match on, since the rest of the text may change
        /// between server versions.
        code: String,
        /// The whole error text as the server sent it, code included.
        message: String,
    },
    /// An entry could not be encoded or decoded with the stream's codec.
    Codec {
        /// The ID of the stored entry that failed to decode; `None` when encoding (the entry has
        /// no ID yet) or when no entry is known.
        id: Option<StreamId>,
        /// What the codec reported.
        message: String,
    },
    /// The connection failed, timed out or was closed; the error that caused it is kept (see
    /// [`ConnectionError`] and [`std::error::Error::source`]).
    Connection(ConnectionError),
    /// The server answered something this client did not expect (a bug, or not Redis).
    UnexpectedReply(String),
    /// An embedded engine's data directory could not be opened or loaded (the text names
    /// the file and, for a damaged log, the offset).
    Storage(String),
    /// The call cannot run where it was asked to (a command that changes connection state,
    /// sent on a client shared between tasks); the text says what to use instead. Nothing
    /// was sent.
    Usage(String),
}

/// What broke a connection: the text, the I/O error kind when an I/O error caused it, and the
/// causing error itself.
#[derive(Debug, Clone)]
pub struct ConnectionError {
    message: String,
    io_kind: Option<std::io::ErrorKind>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ConnectionError {
    /// The error's text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind of the I/O error behind it (refused, reset, timed out...), when there is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.io_kind
    }
}

/// Two connection errors are equal when their texts and I/O kinds are (the causes themselves
/// cannot be compared).
impl PartialEq for ConnectionError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.io_kind == other.io_kind
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The first I/O error in `e`'s chain of causes.
fn io_kind_of(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = c.source();
    }
    None
}

impl Error {
    /// A connection error with only a text (no cause to keep).
    pub fn connection(message: impl Into<String>) -> Error {
        Error::Connection(ConnectionError {
            message: message.into(),
            io_kind: None,
            source: None,
        })
    }

    /// A connection error caused by `cause`, which is kept as the error's source.
    pub fn connection_caused_by(cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        let io_kind = io_kind_of(&cause);
        Error::caused(cause, io_kind)
    }

    fn caused(
        cause: impl std::error::Error + Send + Sync + 'static,
        io_kind: Option<std::io::ErrorKind>,
    ) -> Error {
        Error::Connection(ConnectionError {
            message: cause.to_string(),
            io_kind,
            source: Some(Arc::new(cause)),
        })
    }

    /// Builds a server error from its text.
    pub fn server(text: &str) -> Error {
        let code = text.split(' ').next().unwrap_or("ERR").to_string();
        Error::Server {
            code,
            message: text.to_string(),
        }
    }

    /// The server error code, if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// `NOGROUP`: the stream or the group does not exist. Also Redis 7.0's answer to a
    /// group read blocked on a stream that was deleted meanwhile (`UNBLOCKED the stream key
    /// no longer exists`), which Redis 7.2 and later, and Rill, answer with NOGROUP: the same
    /// cause reads the same on every backend.
    pub fn is_no_group(&self) -> bool {
        match self {
            Error::Server { code, message } => {
                code == "NOGROUP" || message == "UNBLOCKED the stream key no longer exists"
            }
            _ => false,
        }
    }

    /// `BUSYGROUP`: the group exists already.
    pub fn is_busy_group(&self) -> bool {
        self.code() == Some("BUSYGROUP")
    }

    /// `WRONGTYPE`: the key holds something else than a stream.
    pub fn is_wrong_type(&self) -> bool {
        self.code() == Some("WRONGTYPE")
    }

    pub(crate) fn unexpected(what: &str, reply: &impl fmt::Debug) -> Error {
        Error::UnexpectedReply(format!("{what}: {reply:?}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server { message, .. } => write!(f, "server error: {message}"),
            Error::Codec {
                id: Some(id),
                message,
            } => write!(f, "codec error in entry {id}: {message}"),
            Error::Codec { id: None, message } => write!(f, "codec error: {message}"),
            Error::Connection(m) => write!(f, "connection error: {m}"),
            Error::UnexpectedReply(m) => write!(f, "unexpected reply: {m}"),
            Error::Storage(m) => write!(f, "storage error: {m}"),
            Error::Usage(m) => write!(f, "usage error: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connection(c) => c
                .source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Error {
        match e.kind() {
            redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => {
                let code = e.code().unwrap_or("ERR").to_string();
                let detail = e.detail().unwrap_or_default();
                let message = if detail.is_empty() {
                    code.clone()
                } else {
                    format!("{code} {detail}")
                };
                Error::Server { code, message }
            }
            _ => {
                // The redis crate keeps its I/O error private; its predicates say which it was.
                let io_kind = if e.is_connection_refusal() {
                    Some(std::io::ErrorKind::ConnectionRefused)
                } else if e.is_timeout() {
                    Some(std::io::ErrorKind::TimedOut)
                } else if e.is_connection_dropped() {
                    Some(std::io::ErrorKind::ConnectionReset)
                } else if e.is_io_error() {
                    Some(std::io::ErrorKind::Other)
                } else {
                    None
                };
                Error::caused(e, io_kind)
            }
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_released_by_a_deleted_stream_is_no_group_on_every_redis() {
        for text in [
            "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option",
            "UNBLOCKED the stream key no longer exists",
        ] {
            assert!(Error::server(text).is_no_group(), "{text}");
        }
        for text in [
            "UNBLOCKED client unblocked via CLIENT UNBLOCK",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ] {
            assert!(!Error::server(text).is_no_group(), "{text}");
        }
    }
}
