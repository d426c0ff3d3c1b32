//! Per-actor spans that follow changes of the tracing filter.
//!
//! `EnvFilter` learns which spans match a span directive (`sluice[partition{topic=orders}]=debug`)
//! when each span is *created*. A filter installed later knows nothing about spans that already
//! exist, and an actor keeps its span for its whole life — so after a reload, per-actor directives
//! would never match the actors already running. Every change therefore bumps a generation
//! number ([`filter_changed`]), and an actor's [`ActorSpan`] rebuilds its span (same name, same
//! fields) the next time it is entered under a newer generation: one relaxed atomic load per
//! entry.

use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Span;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// To be called after a new tracing filter is installed: every [`ActorSpan`] is rebuilt the
/// next time its actor enters it.
pub fn filter_changed() {
    GENERATION.fetch_add(1, Ordering::Release);
}

/// A long-lived actor's span that follows filter changes (see the module docs).
pub struct ActorSpan {
    span: Span,
    generation: u64,
}

impl ActorSpan {
    /// Wraps a freshly built span.
    pub fn new(span: Span) -> ActorSpan {
        ActorSpan {
            span,
            generation: GENERATION.load(Ordering::Acquire),
        }
    }

    /// The span to enter: the current one, or a new one from `build` if the filter changed
    /// since it was made.
    pub fn get(&mut self, build: impl FnOnce() -> Span) -> Span {
        let now = GENERATION.load(Ordering::Acquire);
        if now != self.generation {
            self.span = build();
            self.generation = now;
        }
        self.span.clone()
    }

    /// The span as it is, without checking for a filter change (for `&self` contexts).
    pub fn span(&self) -> &Span {
        &self.span
    }
}

/// Lets actor code written against a plain `Span` field (`self.span.clone().entered()`) keep
/// compiling; such a site enters the span as it is and misses the rebuild after a filter
/// change, so actors should enter through [`ActorSpan::get`] (their `span()` helper).
impl std::ops::Deref for ActorSpan {
    type Target = Span;

    fn deref(&self) -> &Span {
        &self.span
    }
}
