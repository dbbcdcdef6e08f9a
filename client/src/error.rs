//! One error type for every backend: what the server refused, what could not be decoded, and
//! what went wrong on the way.

use std::fmt;

/// Everything a `rill` call can fail with.
#[derive(Debug, Clone, PartialEq)]
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
        id: Option<String>,
        /// What the codec reported.
        message: String,
    },
    /// The connection failed, timed out or was closed.
    Connection(String),
    /// The server answered something this client did not expect (a bug, or not Redis).
    UnexpectedReply(String),
    /// An embedded engine's data directory could not be opened or loaded (the text names
    /// the file and, for a damaged log, the offset).
    Storage(String),
}

impl Error {
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

    /// `NOGROUP`: the stream or the group does not exist.
    pub fn is_no_group(&self) -> bool {
        self.code() == Some("NOGROUP")
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
        }
    }
}

impl std::error::Error for Error {}

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
            _ => Error::Connection(e.to_string()),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
