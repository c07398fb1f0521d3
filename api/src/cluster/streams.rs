//! Live connections per client on this replica: at most `CIVICPROOF_MAX_STREAMS_PER_CLIENT`
//! Server-Sent Events streams and GraphQL WebSockets per token, or per client address without
//! one, so no client can hold the replica's tasks and buffers with thousands of idle streams.

use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One open stream; its place is given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<StreamSlots>,
    key: String,
}

impl StreamSlots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more stream of the client `key` (`edge::limits::who`); `rate-limited`
    /// when it already holds the most.
    pub fn take(self: &Arc<Self>, key: String) -> Result<Slot, ApiError> {
        let mut held = self.held.lock().expect("stream slots");
        let n = held.entry(key.clone()).or_default();
        if *n >= self.max {
            return Err(ApiError::RateLimited {
                detail: format!(
                    "This client already holds {} live streams on this server; close one first.",
                    self.max
                ),
                retry_after_secs: 5,
            });
        }
        *n += 1;
        Ok(Slot {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().expect("stream slots");
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}
