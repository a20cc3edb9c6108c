//! A bounded ring of an application's recent items (dead letters, rejected requests), for
//! showing the latest few without keeping them all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The most recent items an application fed it, at most `capacity` of them: pushing onto a full
/// ring drops the oldest. Cheap to clone; every clone is the same ring. Pushing takes a lock
/// for the time of a `VecDeque` push, so feed it from a sink's batch, not per item on a hot
/// path that cannot afford a lock.
///
/// The HTTP control plane serves a `RecentRing<serde_json::Value>` as a read-only route
/// (`ControlPlane::with_recent`, feature `http`).
///
/// # Examples
///
/// ```
/// use sda_orchestrator::monitor::RecentRing;
///
/// let ring = RecentRing::new(2);
/// for n in 1..=3 {
///     ring.push(n);
/// }
/// assert_eq!(ring.latest(10, |_| true), [3, 2]); // newest first; 1 was dropped
/// assert_eq!(ring.latest(10, |n| n % 2 == 1), [3]);
/// assert_eq!(ring.pushed(), 3);
/// ```
#[derive(Debug)]
pub struct RecentRing<T> {
    inner: Arc<Mutex<Ring<T>>>,
}

#[derive(Debug)]
struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    pushed: u64,
}

impl<T> Clone for RecentRing<T> {
    fn clone(&self) -> Self {
        RecentRing {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Clone> RecentRing<T> {
    /// A ring that keeps the latest `capacity` items (at least 1).
    pub fn new(capacity: usize) -> Self {
        RecentRing {
            inner: Arc::new(Mutex::new(Ring {
                items: VecDeque::with_capacity(capacity.clamp(1, 4096)),
                capacity: capacity.max(1),
                pushed: 0,
            })),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `item`, dropping the oldest when the ring is full.
    pub fn push(&self, item: T) {
        let mut ring = self.ring();
        if ring.items.len() == ring.capacity {
            ring.items.pop_front();
        }
        ring.items.push_back(item);
        ring.pushed += 1;
    }

    /// Adds every item of `items`, in order, under one lock.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) {
        let mut ring = self.ring();
        for item in items {
            if ring.items.len() == ring.capacity {
                ring.items.pop_front();
            }
            ring.items.push_back(item);
            ring.pushed += 1;
        }
    }

    /// Up to `limit` of the held items that `keep` accepts, newest first.
    pub fn latest(&self, limit: usize, mut keep: impl FnMut(&T) -> bool) -> Vec<T> {
        self.ring()
            .items
            .iter()
            .rev()
            .filter(|item| keep(item))
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many items the ring holds now.
    pub fn len(&self) -> usize {
        self.ring().items.len()
    }

    /// Whether the ring holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items it holds.
    pub fn capacity(&self) -> usize {
        self.ring().capacity
    }

    /// How many items were ever pushed, the dropped ones included.
    pub fn pushed(&self) -> u64 {
        self.ring().pushed
    }
}
