//! The runtime side of the tracing filter: swapping it on a running broker (`PUT /log-filter`).
//! Each change is announced to [`crate::actor::span`], so that long-lived actor spans follow it.

use std::sync::Mutex;

/// Parses and installs a filter, or says why it cannot.
type Reload = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// The installed filter, and how to replace it. Built by the binary, which owns the subscriber.
pub struct LogControl {
    current: Mutex<String>,
    reload: Box<Reload>,
}

impl LogControl {
    /// `reload` parses and installs a filter, or says why it cannot.
    pub fn new(
        initial: String,
        reload: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> LogControl {
        LogControl {
            current: Mutex::new(initial),
            reload: Box::new(reload),
        }
    }

    /// The directives in force.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Installs new directives; on error the old filter stays.
    pub fn set(&self, directives: &str) -> Result<(), String> {
        let directives = directives.trim();
        (self.reload)(directives)?;
        match self.current.lock() {
            Ok(mut c) => *c = directives.to_owned(),
            Err(p) => *p.into_inner() = directives.to_owned(),
        }
        crate::actor::span::filter_changed();
        tracing::info!(filter = directives, "log filter changed");
        Ok(())
    }
}
