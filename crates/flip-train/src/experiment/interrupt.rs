//! A stop request shared between whoever catches Ctrl-C (the command line) and the stage that
//! can honour it: pretraining finishes its step, writes a checkpoint and stops; every other
//! phase restarts from its beginning with resume, so an application may exit at once there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cloneable stop request. [`Interrupt::request`] says whether a running stage will stop
/// cleanly (a pretraining loop, which checkpoints) or nothing can (the caller may exit).
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    requested: Arc<AtomicBool>,
    checkpointing: Arc<AtomicBool>,
}

impl Interrupt {
    /// No stop requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the running stage to stop. True when a pretraining loop will finish its step,
    /// write a checkpoint and stop, and this is the first request; false when nothing running
    /// can stop cleanly, or a request was already made (then exiting is the caller's choice).
    pub fn request(&self) -> bool {
        let first = !self.requested.swap(true, Ordering::SeqCst);
        first && self.checkpointing.load(Ordering::SeqCst)
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Runs `work` as a phase that honours requests (a pretraining loop).
    pub(crate) fn while_checkpointing<T>(&self, work: impl FnOnce() -> T) -> T {
        self.checkpointing.store(true, Ordering::SeqCst);
        let out = work();
        self.checkpointing.store(false, Ordering::SeqCst);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_request_during_pretraining_stops_cleanly() {
        let outside = Interrupt::new();
        assert!(!outside.request(), "nothing runs that checkpoints");
        assert!(outside.requested());

        let inside = Interrupt::new();
        let handle = inside.clone();
        inside.while_checkpointing(|| {
            assert!(handle.request());
            assert!(!handle.request(), "a second request is not clean");
        });
        assert!(inside.requested());
    }
}
