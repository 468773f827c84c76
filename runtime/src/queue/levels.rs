//! The queue's storage: one FIFO per priority under one shared capacity. Workers take
//! the oldest request of the highest priority; `drop_oldest` evicts the oldest request of
//! the lowest priority, never one more urgent than the request it makes room for.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use crate::envelope::Priority;

/// Levels from most to least urgent.
const ORDER: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

fn level(p: Priority) -> usize {
    match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

/// FIFOs per priority, bounded together by `capacity`.
pub(crate) struct Levels<E> {
    queues: [(flume::Sender<E>, flume::Receiver<E>); 3],
    count: AtomicUsize,
    capacity: usize,
}

impl<E> Levels<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queues: [flume::unbounded(), flume::unbounded(), flume::unbounded()],
            count: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Adds `item` at `priority` if there is room; gives it back when full.
    pub(crate) fn try_push(&self, item: E, priority: Priority) -> Result<(), E> {
        let reserved = self
            .count
            .fetch_update(SeqCst, SeqCst, |n| (n < self.capacity).then_some(n + 1));
        if reserved.is_err() {
            return Err(item);
        }
        // Unbounded and both ends owned here: sending cannot fail.
        let _ = self.queues[level(priority)].0.send(item);
        Ok(())
    }

    /// The oldest item of the highest priority present.
    pub(crate) fn pop(&self) -> Option<E> {
        ORDER.iter().find_map(|p| self.take(level(*p)))
    }

    /// The oldest item of the lowest priority present, if that priority is at most
    /// `at_most` (an eviction never removes anything more urgent than the newcomer).
    pub(crate) fn evict(&self, at_most: Priority) -> Option<E> {
        ORDER
            .iter()
            .rev()
            .take_while(|p| **p <= at_most)
            .find_map(|p| self.take(level(*p)))
    }

    fn take(&self, i: usize) -> Option<E> {
        let item = self.queues[i].1.try_recv().ok()?;
        self.count.fetch_sub(1, SeqCst);
        Some(item)
    }

    pub(crate) fn len(&self) -> usize {
        self.count.load(SeqCst)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priorities_leave_first_each_in_arrival_order() {
        let q = Levels::new(8);
        for (v, p) in [
            (1, Priority::Normal),
            (2, Priority::Low),
            (3, Priority::High),
            (4, Priority::Normal),
            (5, Priority::High),
        ] {
            assert!(q.try_push(v, p).is_ok());
        }
        let order: Vec<i32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [3, 5, 1, 4, 2]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn capacity_is_shared_and_eviction_spares_the_more_urgent() {
        let q = Levels::new(2);
        assert!(q.try_push(1, Priority::High).is_ok());
        assert!(q.try_push(2, Priority::Normal).is_ok());
        assert_eq!(q.try_push(3, Priority::Low), Err(3), "full across levels");
        assert_eq!(q.evict(Priority::Low), None, "nothing as unurgent as Low");
        assert_eq!(q.evict(Priority::Normal), Some(2));
        assert_eq!(
            q.evict(Priority::Normal),
            None,
            "High is never evicted for Normal"
        );
        assert_eq!(q.evict(Priority::High), Some(1));
    }
}
