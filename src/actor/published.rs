//! [`Published`]: a value read on every request and replaced now and then, without a lock.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A value that many threads read on every request and one writer replaces now and then (the
/// cluster image, the partition registry), readable without a lock: each thread keeps the
/// latest `Arc` it saw and only goes to the (rarely written) slot when the version moved.
pub struct Published<T> {
    id: u64,
    version: AtomicU64,
    slot: RwLock<Arc<T>>,
}

/// A thread's copies of published values: id → (version, value).
type Seen = HashMap<u64, (u64, Arc<dyn Any + Send + Sync>)>;

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(HashMap::new());
}

impl<T: Send + Sync + 'static> Published<T> {
    pub fn new(value: T) -> Published<T> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Published {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            slot: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value: this thread's copy, unless a newer one was stored since.
    pub fn load(&self) -> Arc<T> {
        let version = self.version.load(Ordering::Acquire);
        let cached = SEEN.with(|seen| {
            let seen = seen.borrow();
            let (v, value) = seen.get(&self.id)?;
            if *v != version {
                return None;
            }
            value.clone().downcast::<T>().ok()
        });
        if let Some(value) = cached {
            return value;
        }
        let value = self.load_slot();
        SEEN.with(|seen| {
            let any: Arc<dyn Any + Send + Sync> = value.clone();
            seen.borrow_mut().insert(self.id, (version, any));
        });
        value
    }

    fn load_slot(&self) -> Arc<T> {
        match self.slot.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the value; readers see it on their next `load`.
    pub fn store(&self, value: Arc<T>) {
        match self.slot.write() {
            Ok(mut slot) => *slot = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// Replaces the value with `change` applied to a copy of it; writers are serialised (the
    /// slot's lock is held meanwhile), readers are not held up.
    pub fn update(&self, change: impl FnOnce(&T) -> T) {
        {
            let mut slot = match self.slot.write() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            let next = change(&slot);
            *slot = Arc::new(next);
        }
        self.version.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::Published;
    use std::sync::Arc;

    #[test]
    fn every_thread_sees_the_latest_value() {
        let p = Arc::new(Published::new(1u32));
        assert_eq!(*p.load(), 1);
        p.store(Arc::new(2));
        assert_eq!(*p.load(), 2);
        let other = p.clone();
        let seen = std::thread::spawn(move || {
            let first = *other.load();
            other.update(|v| v + 10);
            (first, *other.load())
        })
        .join()
        .expect("thread");
        assert_eq!(seen, (2, 12));
        // This thread's copy is refreshed by the other thread's update.
        assert_eq!(*p.load(), 12);
        // Two published values of the same type do not share a thread's copies.
        let q = Published::new(7u32);
        assert_eq!((*p.load(), *q.load()), (12, 7));
    }
}
