//! Redis access: the connection (single server or cluster, reconnecting by itself), typed
//! errors, the key schema, and one repository per aggregate.

pub mod chat_index;
pub mod dedup;
pub mod effects;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod inbound;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod mailbox;
pub mod meetings;
pub mod outbox;
pub mod roster;
pub mod tokens;
pub mod txn;

use std::{sync::Arc, time::Duration};

use redis::{
    Cmd, Pipeline, RedisError, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClient,
    cluster_async::ClusterConnection,
};
use tokio::sync::OnceCell;

pub use keys::Keys;

use crate::config::{RedisMode, RedisSettings};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached in time; the caller should answer 503 and let the sender retry.
    #[error("redis is unavailable")]
    Unavailable(#[source] RedisError),
    /// Redis answered with an error we did not expect (a bug, or a wrong server).
    #[error("redis error")]
    Redis(#[source] RedisError),
    /// Stored data did not decode: written by another version, or damaged.
    #[error("stored value at {key} does not decode")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A multi-key operation spanned hash slots (a bug in key building).
    #[error("keys of one transaction span hash tags {0:?} and {1:?}")]
    CrossSlot(String, String),
    /// Optimistic retries kept conflicting.
    #[error("too much contention on {0}")]
    Contention(String),
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(
                    redis::ServerErrorKind::BusyLoading
                        | redis::ServerErrorKind::ClusterDown
                        | redis::ServerErrorKind::TryAgain
                        | redis::ServerErrorKind::MasterDown
                        | redis::ServerErrorKind::ReadOnly
                )
            )
        {
            Self::Unavailable(e)
        } else {
            Self::Redis(e)
        }
    }
}

/// `Result` of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A connection of either kind, with a deadline on every request so that a hung server turns
/// into a prompt [`StoreError::Unavailable`] rather than a hung webhook.
#[derive(Clone)]
pub struct Conn {
    inner: ConnKind,
    deadline: Duration,
    round_trips: Arc<std::sync::atomic::AtomicU64>,
    #[cfg(feature = "fault-injection")]
    faults: Arc<fault::Faults>,
}

#[derive(Clone)]
enum ConnKind {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "redis request timed out",
    ))
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let deadline = self.deadline;
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[cfg(feature = "fault-injection")]
        let fault = self.faults.next();
        Box::pin(async move {
            #[cfg(feature = "fault-injection")]
            if fault == Some(fault::FaultMode::Refuse) {
                return Err(fault::injected());
            }
            let fut = match &mut self.inner {
                ConnKind::Single(c) => c.req_packed_command(cmd),
                ConnKind::Cluster(c) => c.req_packed_command(cmd),
            };
            let answer = tokio::time::timeout(deadline, fut)
                .await
                .map_err(|_| timed_out())?;
            #[cfg(feature = "fault-injection")]
            if fault.is_some() {
                return Err(fault::injected());
            }
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let deadline = self.deadline;
        // A pipeline (or MULTI/EXEC) is one round trip.
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        #[cfg(feature = "fault-injection")]
        let fault = self.faults.next();
        Box::pin(async move {
            #[cfg(feature = "fault-injection")]
            if fault == Some(fault::FaultMode::Refuse) {
                return Err(fault::injected());
            }
            let fut = match &mut self.inner {
                ConnKind::Single(c) => c.req_packed_commands(cmd, offset, count),
                ConnKind::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            };
            let answer = tokio::time::timeout(deadline, fut)
                .await
                .map_err(|_| timed_out())?;
            #[cfg(feature = "fault-injection")]
            if fault.is_some() {
                return Err(fault::injected());
            }
            answer
        })
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            ConnKind::Single(c) => c.get_db(),
            ConnKind::Cluster(c) => c.get_db(),
        }
    }
}

/// The store: cheap to clone, shared by every request and worker.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    keys: Keys,
    settings: RedisSettings,
    single: Option<ConnectionManager>,
    cluster: OnceCell<ClusterConnection>,
    /// Requests sent to Redis through this store (a pipeline counts once): the measure of
    /// round trips per command in `tests/api/round_trips.rs`.
    round_trips: Arc<std::sync::atomic::AtomicU64>,
    /// This replica's copy of the chat → branch index (see [`chat_index`]).
    chat_index: chat_index::ChatIndex,
    #[cfg(feature = "fault-injection")]
    faults: Arc<fault::Faults>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.inner.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Prepares the connection without touching the network: the server starts (and reports
    /// not ready) while Redis is down, and connects as soon as Redis answers.
    pub fn new(settings: &RedisSettings) -> Result<Self> {
        let single = match settings.mode {
            RedisMode::Single => {
                let url = settings
                    .url
                    .0
                    .first()
                    .map(|u| u.expose())
                    .unwrap_or_default();
                let client = redis::Client::open(url).map_err(StoreError::Redis)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.response_timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                Some(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            RedisMode::Cluster => None,
        };
        Ok(Self {
            inner: Arc::new(StoreInner {
                keys: Keys::new(&settings.prefix),
                settings: settings.clone(),
                single,
                cluster: OnceCell::new(),
                round_trips: Arc::default(),
                chat_index: chat_index::ChatIndex::default(),
                #[cfg(feature = "fault-injection")]
                faults: Arc::default(),
            }),
        })
    }

    /// The key builder.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The fault seam of this store (tests only; see [`fault`]).
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> &fault::Faults {
        &self.inner.faults
    }

    /// A connection handle (multiplexed; cloning is cheap).
    pub async fn conn(&self) -> Result<Conn> {
        let deadline = self.inner.settings.connect_timeout + self.inner.settings.response_timeout;
        let inner = match &self.inner.single {
            Some(manager) => ConnKind::Single(manager.clone()),
            None => {
                let settings = &self.inner.settings;
                let conn = self
                    .inner
                    .cluster
                    .get_or_try_init(|| async {
                        let urls: Vec<&str> = settings.url.0.iter().map(|u| u.expose()).collect();
                        let client = ClusterClient::builder(urls)
                            .connection_timeout(settings.connect_timeout)
                            .response_timeout(settings.response_timeout)
                            .build()?;
                        tokio::time::timeout(deadline, client.get_async_connection())
                            .await
                            .map_err(|_| timed_out())?
                    })
                    .await
                    .map_err(StoreError::from)?;
                ConnKind::Cluster(conn.clone())
            }
        };
        Ok(Conn {
            inner,
            deadline,
            round_trips: self.inner.round_trips.clone(),
            #[cfg(feature = "fault-injection")]
            faults: self.inner.faults.clone(),
        })
    }

    /// How many requests this store (and its clones) has sent to Redis so far; a pipeline or
    /// a script counts as one. A script's retry after `NOSCRIPT` counts too: it is a round trip.
    pub fn round_trips(&self) -> u64 {
        self.inner
            .round_trips
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Round-trips a PING: the readiness probe.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// Decodes a stored JSON value, naming the key when it does not decode.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(key: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })
}

/// Encodes a value for storage. Our own types always encode; a failure is a bug, reported
/// as a corrupt value rather than a panic.
pub(crate) fn encode<T: serde::Serialize>(key: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Corrupt {
        key: key.to_owned(),
        source,
    })
}
