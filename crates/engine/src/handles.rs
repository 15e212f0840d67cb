//! Task handles as a job sees them: small named values kept across the attempts of one task
//! instance, so a job that starts a remote run (a Glue job run, an Athena query) can store the
//! run's id *before* it waits for it, and a retry or an attempt restarted after its process
//! died reconnects to that run instead of starting a second one. `flowctl clear` forgets them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use flowctl_state::Store;

use crate::job::JobError;

/// Where handles live: the state store in a real run, memory in tests.
#[async_trait]
trait HandleBackend: Send + Sync + 'static {
    async fn load(&self, name: &str) -> Result<Option<String>, String>;
    async fn save(&self, name: &str, value: &str, try_number: u32) -> Result<(), String>;
    async fn remove(&self, name: &str) -> Result<(), String>;
}

/// The handles of the task instance an attempt belongs to. Cheap to clone.
#[derive(Clone)]
pub struct TaskHandles {
    backend: Arc<dyn HandleBackend>,
    try_number: u32,
}

impl std::fmt::Debug for TaskHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandles")
            .field("try_number", &self.try_number)
            .finish_non_exhaustive()
    }
}

impl TaskHandles {
    /// Handles of task instance `ti_id`, kept in the state store.
    pub(crate) fn in_store(store: Store, ti_id: i64, try_number: u32) -> Self {
        Self {
            backend: Arc::new(StoreBackend { store, ti_id }),
            try_number,
        }
    }

    /// Handles kept in memory, for tests and benchmarks of job plugins. Clones share the
    /// values, and [`TaskHandles::for_try`] makes the handles a later try would see.
    pub fn in_memory() -> Self {
        Self {
            backend: Arc::new(MemoryBackend::default()),
            try_number: 1,
        }
    }

    /// The same handles as seen by try `try_number` (tests simulate a retry or a restart).
    pub fn for_try(&self, try_number: u32) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            try_number,
        }
    }

    /// The handle `name`, if an earlier (or this) attempt stored one.
    pub async fn load(&self, name: &str) -> Result<Option<String>, JobError> {
        self.backend.load(name).await.map_err(store_error)
    }

    /// Stores the handle `name`; durable when this returns.
    pub async fn save(&self, name: &str, value: &str) -> Result<(), JobError> {
        self.backend
            .save(name, value, self.try_number)
            .await
            .map_err(store_error)
    }

    /// Forgets the handle `name` (e.g. once the remote run it names has failed for good,
    /// so the next try starts a new one).
    pub async fn remove(&self, name: &str) -> Result<(), JobError> {
        self.backend.remove(name).await.map_err(store_error)
    }
}

fn store_error(message: String) -> JobError {
    JobError::failed(format!("state store (task handles): {message}"))
}

struct StoreBackend {
    store: Store,
    ti_id: i64,
}

#[async_trait]
impl HandleBackend for StoreBackend {
    async fn load(&self, name: &str) -> Result<Option<String>, String> {
        self.store
            .load_handle(self.ti_id, name)
            .await
            .map(|h| h.map(|h| h.value))
            .map_err(|e| e.to_string())
    }

    async fn save(&self, name: &str, value: &str, try_number: u32) -> Result<(), String> {
        self.store
            .save_handle(self.ti_id, name, value, try_number)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove(&self, name: &str) -> Result<(), String> {
        self.store
            .remove_handle(self.ti_id, name)
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(Default)]
struct MemoryBackend {
    values: Mutex<HashMap<String, String>>,
}

impl MemoryBackend {
    fn values(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding this lock cannot leave the map half-updated.
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl HandleBackend for MemoryBackend {
    async fn load(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self.values().get(name).cloned())
    }

    async fn save(&self, name: &str, value: &str, _try_number: u32) -> Result<(), String> {
        self.values().insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), String> {
        self.values().remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_handles_are_shared_across_tries() {
        let first = TaskHandles::in_memory();
        assert_eq!(first.load("run").await.unwrap(), None);
        first.save("run", "jr_1").await.unwrap();
        let retry = first.for_try(2);
        assert_eq!(retry.load("run").await.unwrap().as_deref(), Some("jr_1"));
        retry.remove("run").await.unwrap();
        assert_eq!(first.load("run").await.unwrap(), None);
    }
}
