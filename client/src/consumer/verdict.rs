//! What a handler's error says about its entry: try again later (any error), or never
//! ([`Fatal`]).

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;

/// A handler error saying the entry can never be handled (a poison message: it breaks an
/// invariant, refers to something gone): the consumer dead-letters it at once instead of
/// retrying it up to `max_deliveries`. Return it as the handler's error type, or boxed in a
/// `Box<dyn Error + Send + Sync>`; any other error is worth a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal(pub String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Fatal {}

/// A failed handler, as the consumer books it.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) text: String,
    /// Never worth a retry.
    pub(super) fatal: bool,
}

impl Failure {
    /// A failure worth retrying (a panic, a timeout, an ordinary error).
    pub(super) fn retry(text: String) -> Failure {
        Failure { text, fatal: false }
    }

    /// Reads a handler's error: fatal when it is a [`Fatal`], bare or boxed.
    pub(super) fn from_handler<E: fmt::Display + 'static>(error: E) -> Failure {
        let any: &dyn Any = &error;
        let fatal = any.is::<Fatal>()
            || any
                .downcast_ref::<Box<dyn StdError + Send + Sync>>()
                .is_some_and(|b| b.is::<Fatal>())
            || any
                .downcast_ref::<Box<dyn StdError + Send>>()
                .is_some_and(|b| b.is::<Fatal>());
        Failure {
            text: error.to_string(),
            fatal,
        }
    }
}
