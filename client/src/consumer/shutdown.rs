//! [`Shutdown`]: the sticky signal that stops consumers and worker pools.

use std::sync::Arc;

use tokio::sync::watch;

/// The signal that stops consumers: clone it into whatever decides to stop (a Ctrl-C task, a
/// test, a handler), call [`Shutdown::trigger`], and every `run` holding a clone winds down.
///
/// Built on a `tokio::sync::watch` channel rather than a `Notify`: the state is sticky, so a
/// trigger that comes before anyone waits (or between two waits) is never lost, and any number
/// of consumers can wait on it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    state: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown {
            state: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Asks every consumer holding a clone to stop. Idempotent.
    pub fn trigger(&self) {
        self.state.send_replace(true);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.state.borrow()
    }

    /// Resolves once the signal is triggered (at once if it was already).
    pub async fn triggered(&self) {
        let mut seen = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = seen.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_is_sticky_and_shared() {
        let s = Shutdown::new();
        let clone = s.clone();
        assert!(!clone.is_triggered());
        s.trigger();
        s.trigger();
        assert!(clone.is_triggered());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(clone.triggered()))
            .ok();
    }
}
