//! The managed Redis connection. `ConnectionManager` reconnects on its own; on top of it a
//! health flag, kept by a background probe, lets request paths skip Redis at once while it is
//! down instead of waiting on timeouts, so an outage never fails or slows a request that
//! PostgreSQL can answer.

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    Client, Cmd, ErrorKind, FromRedisValue, Pipeline, RedisResult, ScriptInvocation,
    ServerErrorKind,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one command may take before Redis counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// How often the probe checks a Redis that is down (and one that is up).
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

pub struct RedisLink {
    client: Client,
    manager: ConnectionManager,
    up: AtomicBool,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("up", &self.is_up())
            .finish()
    }
}

impl RedisLink {
    /// A lazy link: nothing is contacted until the first command, so a server starts (and
    /// serves from PostgreSQL) while Redis is down. Must run inside the Tokio runtime.
    pub fn new(url: &str) -> anyhow::Result<Arc<Self>> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Arc::new(Self {
            client,
            manager,
            up: AtomicBool::new(false),
        }))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the last probe or command reached Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn set_up(&self, up: bool) {
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                tracing::info!("redis is reachable");
            } else {
                tracing::warn!("redis is unreachable: serving from PostgreSQL and process memory");
            }
        }
    }

    /// Runs `cmd`; `None` when Redis is down or the command fails (which marks it down).
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.manager.clone();
        self.settle(cmd.query_async::<T>(&mut conn)).await
    }

    /// Runs a pipeline, like [`Self::query`].
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.manager.clone();
        self.settle(pipe.query_async::<T>(&mut conn)).await
    }

    /// Runs a Lua script (EVALSHA, loading it when the server lacks it).
    pub async fn invoke<T: FromRedisValue>(&self, inv: ScriptInvocation<'_>) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.manager.clone();
        self.settle(inv.invoke_async::<T>(&mut conn)).await
    }

    async fn settle<T>(&self, fut: impl Future<Output = RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
            Ok(Ok(v)) => Some(v),
            // The server answered with an error: a bug here, not an outage.
            Ok(Err(e)) if e.kind() == ErrorKind::Server(ServerErrorKind::ResponseError) => {
                tracing::error!(error = %e, "redis rejected a command");
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "redis command failed");
                self.set_up(false);
                None
            }
            Err(_) => {
                self.set_up(false);
                None
            }
        }
    }

    /// Keeps the health flag true to Redis until `stop` changes.
    pub async fn probe(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let mut conn = self.manager.clone();
            let ok = matches!(
                tokio::time::timeout(
                    COMMAND_TIMEOUT,
                    ::redis::cmd("PING").query_async::<String>(&mut conn)
                )
                .await,
                Ok(Ok(_))
            );
            self.set_up(ok);
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
            }
        }
    }
}
