//! The embedded broker: librdkafka's mock cluster, reachable on a real local port.
//!
//! `rdkafka::mocking::MockCluster` is neither `Send` nor `Sync`, so it lives on a thread of
//! its own that owns it and serves topic creations over a channel. The process-global one
//! ([`EmbeddedBroker::global`]) is started on first use and kept for the life of the process,
//! so every job of one `flowctl run` talks to the same broker.
//!
//! Limits worth knowing (measured, see DESIGN §6): it keeps at most ~5 MiB or 100,000 message
//! sets per partition and silently drops older data; it forgets everything when the process
//! ends, so the next process's broker is a new cluster (bronze handles that, see
//! `bronze::plan`). Because its topics are created empty by the process that uses them, bronze
//! expects a partition it never read on this broker to start at offset 0: events the size
//! limit dropped before the first read are a gap, not a fresh start.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;

use crate::error::KafkaJobError;

/// Default partition count of topics created in the embedded broker.
pub const DEFAULT_PARTITIONS: i32 = 3;

/// Work for the cluster's own thread (tests: inject faults).
#[cfg(test)]
pub(crate) type ClusterTask =
    Box<dyn FnOnce(&MockCluster<'static, rdkafka::producer::DefaultProducerContext>) + Send>;

enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<Result<bool, String>>,
    },
    #[cfg(test)]
    Run(ClusterTask, mpsc::Sender<()>),
}

/// An in-process Kafka broker (a librdkafka mock cluster with one broker).
///
/// Dropping a broker started with [`EmbeddedBroker::start`] shuts it down.
#[derive(Debug)]
pub struct EmbeddedBroker {
    bootstrap: String,
    instance: String,
    commands: Mutex<mpsc::Sender<Command>>,
}

static GLOBAL: OnceLock<EmbeddedBroker> = OnceLock::new();
static GLOBAL_INIT: Mutex<()> = Mutex::new(());

impl EmbeddedBroker {
    /// Starts a new broker on its own thread.
    pub fn start() -> Result<Self, KafkaJobError> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let (tx, rx) = mpsc::channel::<Command>();
        std::thread::Builder::new()
            .name("flowctl-embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Serves until every sender is gone, then drops (destroys) the cluster.
                while let Ok(command) = rx.recv() {
                    match command {
                        Command::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let result = match cluster.create_topic(&name, partitions, 1) {
                                Ok(()) => Ok(true),
                                Err(KafkaError::MockCluster(
                                    RDKafkaErrorCode::TopicAlreadyExists,
                                )) => Ok(false),
                                Err(e) => Err(e.to_string()),
                            };
                            let _ = reply.send(result);
                        }
                        #[cfg(test)]
                        Command::Run(task, done) => {
                            task(&cluster);
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|e| KafkaJobError::Kafka(format!("cannot start the embedded broker: {e}")))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| KafkaJobError::Kafka("the embedded broker thread died".into()))?
            .map_err(|e| KafkaJobError::Kafka(format!("cannot start the embedded broker: {e}")))?;
        // The mock cluster's id is derived from a heap address, so a later broker can reuse
        // it; this nonce tells broker instances apart (see `instance_id`).
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let instance = format!("{}-{nanos:x}", std::process::id());
        Ok(Self {
            bootstrap,
            instance,
            commands: Mutex::new(tx),
        })
    }

    /// The process-global broker, started on first use and never stopped.
    pub fn global() -> Result<&'static EmbeddedBroker, KafkaJobError> {
        if let Some(broker) = GLOBAL.get() {
            return Ok(broker);
        }
        // Serialises first starts; a failed start is not cached, the next call tries again.
        let _guard = GLOBAL_INIT.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(broker) = GLOBAL.get() {
            return Ok(broker);
        }
        let broker = Self::start()?;
        Ok(GLOBAL.get_or_init(|| broker))
    }

    /// `host:port` of the broker's listener.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// A per-instance id, different for every broker ever started (stored with bronze offsets
    /// together with the cluster id, so a fresh broker is never mistaken for the old one).
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// Runs `task` with the mock cluster on its thread (tests: inject request errors).
    #[cfg(test)]
    pub(crate) fn with_cluster(&self, task: ClusterTask) {
        let (done, wait) = mpsc::channel();
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Command::Run(task, done))
            .expect("the embedded broker runs");
        wait.recv().expect("the embedded broker ran the task");
    }

    /// Creates `topic` with `partitions` partitions; `Ok(false)` if it already existed.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<bool, KafkaJobError> {
        if partitions < 1 {
            return Err(KafkaJobError::Config(format!(
                "a topic needs at least one partition, got {partitions}"
            )));
        }
        let (reply, answer) = mpsc::channel();
        self.commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Command::CreateTopic {
                name: topic.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| KafkaJobError::Kafka("the embedded broker has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| KafkaJobError::Kafka("the embedded broker has stopped".into()))?
            .map_err(|e| KafkaJobError::Kafka(format!("cannot create topic {topic}: {e}")))
    }
}
