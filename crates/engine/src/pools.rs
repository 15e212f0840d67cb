//! Named concurrency pools shared by every run of the process.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// The pools of one engine: a semaphore per pool, and a signal that fires whenever a slot
/// is released (so an executor waiting for a slot taken by another run wakes up).
#[derive(Debug)]
pub(crate) struct Pools {
    slots: BTreeMap<String, Arc<Semaphore>>,
    released: Arc<watch::Sender<u64>>,
}

impl Pools {
    pub(crate) fn new(sizes: &BTreeMap<String, u32>) -> Self {
        let slots = sizes
            .iter()
            .map(|(name, size)| (name.clone(), Arc::new(Semaphore::new(*size as usize))))
            .collect();
        Self {
            slots,
            released: Arc::new(watch::Sender::new(0)),
        }
    }

    /// A slot of `pool`, if one is free. `None` also for an unknown pool (checked at trigger).
    pub(crate) fn try_take(&self, pool: &str) -> Option<PoolSlot> {
        let permit = self.slots.get(pool)?.clone().try_acquire_owned().ok()?;
        Some(PoolSlot {
            permit: Some(permit),
            released: self.released.clone(),
        })
    }

    /// A receiver that changes whenever a slot is released.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.released.subscribe()
    }
}

/// A taken pool slot; released on drop.
#[derive(Debug)]
pub(crate) struct PoolSlot {
    permit: Option<OwnedSemaphorePermit>,
    released: Arc<watch::Sender<u64>>,
}

impl Drop for PoolSlot {
    fn drop(&mut self) {
        // Release first, then signal: a woken waiter must find the slot free.
        drop(self.permit.take());
        self.released.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_released_with_a_signal() {
        let pools = Pools::new(&BTreeMap::from([("db".to_string(), 2)]));
        let mut changes = pools.subscribe();
        let a = pools.try_take("db").unwrap();
        let _b = pools.try_take("db").unwrap();
        assert!(pools.try_take("db").is_none());
        assert!(pools.try_take("nope").is_none());
        assert!(!changes.has_changed().unwrap());
        drop(a);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
        assert!(pools.try_take("db").is_some());
    }
}
