//! Key rotation: files are watched by modification time (and all reloaded on SIGHUP); each
//! change runs its reload action. A failed reload keeps what was loaded before and logs why.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::metrics::Metrics;

type ReloadAction = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

struct Watched {
    kind: &'static str,
    what: String,
    files: Vec<PathBuf>,
    mtimes: Vec<Option<SystemTime>>,
    action: ReloadAction,
}

/// Every reloadable thing, with the files it comes from.
pub(crate) struct Reloader {
    items: Mutex<Vec<Watched>>,
    metrics: Arc<Metrics>,
}

fn mtimes(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

impl Reloader {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            items: Mutex::new(Vec::new()),
            metrics,
        }
    }

    /// Runs `action` whenever one of `files` changes. `kind` labels the metric; `what` names
    /// the thing in logs.
    pub(crate) fn watch(
        &self,
        kind: &'static str,
        what: String,
        files: Vec<PathBuf>,
        action: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) {
        let mtimes = mtimes(&files);
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Watched {
                kind,
                what,
                files,
                mtimes,
                action: Box::new(action),
            });
    }

    /// Reloads what changed (or everything, with `force`); returns how many reloads failed.
    pub(crate) fn check(&self, force: bool) -> usize {
        let mut failed = 0;
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        for item in items.iter_mut() {
            let now = mtimes(&item.files);
            if !force && now == item.mtimes {
                continue;
            }
            // Remember the new times even on failure, so a broken file is reported once and
            // retried when it changes again.
            item.mtimes = now;
            match (item.action)() {
                Ok(()) => {
                    tracing::info!(kind = item.kind, what = %item.what, "reloaded");
                    self.metrics.reload(item.kind, true);
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(
                        kind = item.kind,
                        what = %item.what,
                        "reload failed, keeping the previous version: {e}"
                    );
                    self.metrics.reload(item.kind, false);
                }
            }
        }
        failed
    }
}
