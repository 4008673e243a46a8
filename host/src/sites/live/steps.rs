//! The steps of a site's bring-up: each is logged with the time since the site's bring-up
//! began, and drawn as a spinner line per site on a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner line for one site: its current step and the time since it began.
pub fn spinner(site: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold}: {msg} [{elapsed}]")
            .expect("a valid progress template"),
    );
    bar.set_prefix(site.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The steps of one site's bring-up, shown on its spinner and in the log with the time
/// since the bring-up began (the log is what an operator sees without a terminal).
pub struct Steps {
    site: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Steps {
    pub fn new(site: &str, bar: Option<ProgressBar>, started: Instant) -> Steps {
        Steps {
            site: site.to_owned(),
            bar,
            started,
        }
    }

    pub fn show(&self, message: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        tracing::info!(site = %self.site, "{message} ({elapsed:.1}s)");
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }
}
