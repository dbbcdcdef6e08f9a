//! Commands newer than Redis 7.0 that the consumer runtime uses where the server has them
//! (XREADGROUP ... CLAIM from Redis 8.4, XNACK from 8.8; rill-server has both), falling back
//! to the Redis 7.0 path elsewhere. Whether the server has one is found out on its first use
//! (an old server refuses it without doing anything) and remembered by every clone of the
//! client, so a pool of consumers pays for the refusal once.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::Error;

/// What one client learned about its server.
#[derive(Debug, Default)]
pub(crate) struct Features {
    /// `XREADGROUP ... CLAIM min-idle-time` (Redis 8.4).
    pub(crate) claim_read: Support,
    /// `XNACK` (Redis 8.8).
    pub(crate) nack: Support,
}

/// Whether the server has a command: not known yet, yes, or no.
#[derive(Debug, Default)]
pub(crate) struct Support(AtomicU8);

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

impl Support {
    /// `false` once the server refused it; `true` until then (worth trying).
    pub(crate) fn worth_trying(&self) -> bool {
        self.0.load(Ordering::Relaxed) != NO
    }

    /// Books the outcome of a use: a refusal that says the server lacks the command (or
    /// the option) marks it missing, unless it worked before; success marks it present.
    /// Returns whether `outcome` was such a refusal (nothing was done: fall back).
    pub(crate) fn learn<T>(&self, outcome: &Result<T, Error>) -> bool {
        match outcome {
            Ok(_) => {
                self.0.store(YES, Ordering::Relaxed);
                false
            }
            // Several consumers of one client may have tried at once: each refusal counts,
            // unless the command worked before (then the error is real).
            Err(e) if lacks_command(e) && self.0.load(Ordering::Relaxed) != YES => {
                if self.0.swap(NO, Ordering::Relaxed) == UNKNOWN {
                    tracing::info!("the server lacks it ({e}); using the Redis 7.0 commands");
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// An old server's answer to a command or option it does not have: `ERR unknown command`
/// for XNACK, `ERR syntax error` for XREADGROUP's CLAIM.
fn lacks_command(e: &Error) -> bool {
    match e {
        Error::Server { code, message } => {
            code == "ERR"
                && (message.contains("unknown command") || message.contains("syntax error"))
        }
        _ => false,
    }
}
