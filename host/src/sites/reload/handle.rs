//! Asking the reloader for work: the [`Handle`] the admin listener, `SIGHUP` and the file
//! watcher hold, and the triggers it sends to the reloader thread (`thread.rs`).

use std::sync::mpsc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::sites::live::Pending;

/// A reload's outcome: what changed, or why (part of) the configuration was refused.
pub type Outcome = Result<String, String>;

/// What the reloader is asked to do.
pub(super) enum Trigger {
    /// Reread every configuration file; the outcome goes to `reply` when someone waits.
    Config {
        reason: String,
        reply: Option<oneshot::Sender<Outcome>>,
    },
    /// Files of these sites changed.
    Changed(Vec<String>),
    /// The build of a site ended.
    Built {
        site: String,
        pending: Box<Pending>,
        outcome: Result<crate::build::Built, String>,
        started: Instant,
    },
}

/// Asks the reloader for work; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    pub(super) triggers: mpsc::Sender<Trigger>,
}

impl Handle {
    /// Rereads the whole configuration; resolves with a summary of what changed, or with
    /// the reason (part of) the new configuration was refused.
    pub async fn reload(&self, reason: &str) -> Outcome {
        let (reply, outcome) = oneshot::channel();
        let trigger = Trigger::Config {
            reason: reason.to_owned(),
            reply: Some(reply),
        };
        if self.triggers.send(trigger).is_err() {
            return Err("the reloader has stopped".to_owned());
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("the reloader stopped during the reload".to_owned()))
    }

    /// Reports that files of `sites` changed.
    pub fn changed(&self, sites: Vec<String>) {
        let _ = self.triggers.send(Trigger::Changed(sites));
    }
}
