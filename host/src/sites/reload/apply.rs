//! Swapping sites in and out of the catalog's table, and reporting them: a build process
//! ended (its site is swapped in, or its error reported, the previous version serving on),
//! a site installed or removed, the reloads whose builds have all ended answered, and each
//! site's outcome recorded in the catalog's reports and the metrics.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::sites::catalog::{Catalog, Table};
use crate::sites::live::{LiveSite, Loaded, Pending};
use crate::telemetry::metrics::Metrics;

use super::plan::{Pass, Ready};
use super::state::Waiting;

/// Records the outcome of the start-up load in the catalog's reports and the metrics.
pub fn record_loaded(catalog: &Catalog, metrics: &Metrics, loaded: &Loaded) {
    let now = SystemTime::now();
    for (site, names) in &loaded.server_names {
        catalog.report(site, |report| report.server_names = names.clone());
    }
    for site in loaded.sites.iter().filter(|site| !site.starting) {
        catalog.report(&site.config.name, |report| {
            report.serving = Some((site.fingerprint.build.clone().unwrap_or_default(), now));
        });
    }
    for (site, error) in &loaded.failures {
        catalog.report(site, |report| report.error = Some((error.clone(), now)));
    }
    for (site, elapsed, ok) in &loaded.timings {
        catalog.report(site, |report| report.last_build = Some(*elapsed));
        metrics.observe_build(site, *elapsed, *ok);
    }
}

impl Pass<'_> {
    /// A build process ended: swap the site in, or report why not.
    pub(super) fn built(
        &mut self,
        site: &str,
        pending: Pending,
        outcome: Result<crate::build::Built, String>,
        started: Instant,
    ) {
        let next = self.state.building.remove(site).flatten();
        let current = self.reloader.catalog.current();
        let old = current.site(site).cloned();
        let config = pending.site.clone();
        let finished = outcome
            .map_err(anyhow::Error::msg)
            .and_then(|built| self.reloader.builder.finish(pending, built));
        let installed = match finished {
            // A site taken out of the configuration meanwhile is not served again.
            Ok(_) if old.is_none() => {
                tracing::info!(site = %site, "built a site that was removed meanwhile; not served");
                None
            }
            Ok(live) => {
                self.served(site, &live, started);
                let previous = old.as_ref().and_then(|old| old.fingerprint.build.clone());
                let keep: Vec<String> = [live.fingerprint.build.clone(), previous]
                    .into_iter()
                    .flatten()
                    .collect();
                let live = Arc::new(live);
                let first = old.as_ref().is_some_and(|old| old.starting);
                if self.state.unserved.remove(site).is_some() {
                    self.state.rewatch = true;
                }
                self.install(live.clone());
                self.reloader.builder.prune(site, keep);
                if first {
                    tracing::info!(site = %site, "first build done: the app serves");
                } else {
                    tracing::info!(site = %site, "swapped in the new version; requests in flight finish on the old one");
                }
                Some(live)
            }
            Err(error) => {
                let message = format!("{error:#}");
                self.failed(site, &message, started);
                if let Some((_, _, loaded)) = self.state.initial.as_mut() {
                    loaded.failures.push((site.to_owned(), message));
                }
                // A first build that failed leaves nothing to serve: its names are free. Its
                // files stay watched, so a fix brings it up without a reload.
                if old.as_ref().is_some_and(|old| old.starting) {
                    self.remove(site);
                    if self
                        .state
                        .unserved
                        .insert(site.to_owned(), config)
                        .is_none()
                    {
                        self.state.rewatch = true;
                    }
                    tracing::info!(site = %site, "not served; its files are watched: the next change builds it again");
                }
                None
            }
        };
        if let Some((left, _, loaded)) = self.state.initial.as_mut() {
            if left.remove(site) {
                let ok = installed.is_some();
                loaded
                    .timings
                    .push((site.to_owned(), started.elapsed(), ok));
                loaded.sites.extend(installed.clone());
            }
        }
        self.reloader.check_initial(self.state);
        for waiting in &mut self.state.waiting {
            if let Some(is_new) = waiting.sites.remove(site) {
                let list = match (installed.is_some(), is_new) {
                    (true, true) => &mut waiting.summary.added,
                    (true, false) => &mut waiting.summary.changed,
                    (false, _) => &mut waiting.summary.failed,
                };
                list.push(site.to_owned());
            }
        }
        self.answer_waiting();
        // A change that came in during the build is brought up now, unless it is what was
        // just built.
        if let Some(next) = next {
            let same = installed.as_ref().is_some_and(|live| {
                self.reloader.builder.fingerprint(&next).ok().as_ref() == Some(&live.fingerprint)
            });
            if !same {
                if let Ready::Now(live) = self.bring_up(next, true) {
                    self.install(live);
                }
            }
        }
    }

    /// Sends the outcome of every reload whose builds have all ended.
    pub(super) fn answer_waiting(&mut self) {
        let (done, left): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.state.waiting)
            .into_iter()
            .partition(|waiting| waiting.sites.is_empty());
        self.state.waiting = left;
        for waiting in done {
            let summary = waiting.summary.to_string();
            if waiting.refused.is_empty() {
                tracing::info!("configuration reloaded: {summary}");
            } else {
                tracing::warn!("configuration reloaded but for the sites refused: {summary}");
            }
            let outcome = outcome(&summary, &waiting.refused);
            for reply in waiting.replies {
                let _ = reply.send(outcome.clone());
            }
        }
    }

    /// Answers the callers of a reload whose builds are still running, as soon as the
    /// configuration is accepted: what is applied already, and the sites still building
    /// (the log and the status page report each as it finishes). Nothing waits for a build.
    pub(super) fn answer_early(&mut self, waiting: &mut Waiting) {
        if waiting.replies.is_empty() {
            return;
        }
        let building: Vec<&str> = waiting.sites.keys().map(String::as_str).collect();
        let summary = format!(
            "{}; building: {} (the log and the status page report each as it finishes)",
            waiting.summary,
            building.join(", ")
        );
        let outcome = outcome(&summary, &waiting.refused);
        for reply in std::mem::take(&mut waiting.replies) {
            let _ = reply.send(outcome.clone());
        }
    }

    /// Puts `live` in the table in place of the site of the same name (or beside the
    /// others).
    pub(super) fn install(&self, live: Arc<LiveSite>) {
        let current = self.reloader.catalog.current();
        let mut sites: Vec<Arc<LiveSite>> = current
            .sites
            .iter()
            .filter(|site| site.config.name != live.config.name)
            .cloned()
            .collect();
        sites.push(live);
        self.reloader
            .catalog
            .swap(Table::new(sites, &self.reloader.server));
    }

    /// Takes the site called `site` out of the table.
    fn remove(&self, site: &str) {
        let current = self.reloader.catalog.current();
        let sites = current
            .sites
            .iter()
            .filter(|live| live.config.name != site)
            .cloned()
            .collect();
        self.reloader
            .catalog
            .swap(Table::new(sites, &self.reloader.server));
    }

    /// Reports a site that came up.
    pub(super) fn served(&self, site: &str, live: &LiveSite, started: Instant) {
        let elapsed = started.elapsed();
        tracing::info!(site = %site, "ready in {:.1}s", elapsed.as_secs_f64());
        self.reloader.metrics.observe_build(site, elapsed, true);
        let version = live.fingerprint.build.clone().unwrap_or_default();
        self.reloader.catalog.report(site, |report| {
            report.building = None;
            report.error = None;
            report.serving = Some((version, SystemTime::now()));
            report.last_build = Some(elapsed);
            report.server_names = live.config.server_names.clone();
        });
    }

    /// Reports a site whose bring-up failed (its previous version, if any, serves on).
    pub(super) fn failed(&self, site: &str, message: &str, started: Instant) {
        let elapsed = started.elapsed();
        tracing::error!(site = %site, "build failed after {:.1}s; the previous version (if any) keeps serving: {message}", elapsed.as_secs_f64());
        self.reloader.metrics.observe_build(site, elapsed, false);
        self.reloader.catalog.report(site, |report| {
            report.building = None;
            report.error = Some((message.to_owned(), SystemTime::now()));
            report.last_build = Some(elapsed);
        });
    }
}

/// A reload's answer: the summary, or the refusals with what was applied.
fn outcome(summary: &str, refused: &[String]) -> super::handle::Outcome {
    if refused.is_empty() {
        return Ok(summary.to_owned());
    }
    Err(format!(
        "refused (these sites keep their last good configuration):\n{}\napplied: {summary}",
        refused.join("\n")
    ))
}
