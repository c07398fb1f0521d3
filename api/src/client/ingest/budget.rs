//! The memory the bridge may spend on received messages it has not finished with.
//!
//! QoS 1 traffic is bounded by the broker's in-flight window, but QoS 0 traffic is not, and
//! neither is the backlog when the server is slow or down: without a bound, the bridge would
//! read the broker dry into its own memory. Each message holds a share of the budget from its
//! arrival until the lane that carries it drops it (committed, or dead-lettered and that
//! committed). When the budget is spent, the bridge stops reading from the broker; TCP then
//! pushes back on the broker, which queues or drops by its own rules (a persistent session's
//! QoS 1 messages are kept and sent again after a reconnect).

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget units are KiB, so a u32 permit count covers terabytes.
const UNIT: usize = 1024;

pub struct Budget {
    permits: Arc<Semaphore>,
    units: u32,
}

/// A message's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Held(#[allow(dead_code, reason = "held for its Drop")] OwnedSemaphorePermit);

impl Budget {
    pub fn new(max_bytes: usize) -> Self {
        let units = (max_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            permits: Arc::new(Semaphore::new(units)),
            units: units as u32,
        }
    }

    /// What a message costs: its bytes about three times over (as received, parsed into a
    /// record, and serialized into a batch), its topic, and a fixed overhead; never more
    /// than the whole budget, so that any one message can be taken.
    fn cost(&self, payload: usize, topic: usize) -> u32 {
        let bytes = payload.saturating_mul(3) + topic + 256;
        (bytes.div_ceil(UNIT) as u64).min(u64::from(self.units)) as u32
    }

    /// Takes a message's share now, if the budget has it.
    pub fn try_hold(&self, payload: usize, topic: usize) -> Option<Held> {
        self.permits
            .clone()
            .try_acquire_many_owned(self.cost(payload, topic))
            .ok()
            .map(Held)
    }

    /// Waits until the lanes have given back enough for a message's share.
    pub async fn hold(&self, payload: usize, topic: usize) -> Held {
        Held(
            self.permits
                .clone()
                .acquire_many_owned(self.cost(payload, topic))
                .await
                .expect("the budget's semaphore is never closed"),
        )
    }

    /// Bytes held by messages in flight.
    pub fn held_bytes(&self) -> usize {
        (self.units as usize - self.permits.available_permits()) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_until_a_share_is_dropped() {
        let budget = Budget::new(64 * UNIT);
        let first = budget.try_hold(10 * UNIT, 10).expect("fits");
        let second = budget.try_hold(10 * UNIT, 10).expect("fits");
        assert!(
            budget.try_hold(10 * UNIT, 10).is_none(),
            "62 of 64 KiB held"
        );
        assert_eq!(budget.held_bytes(), 62 * UNIT);
        drop(first);
        let third = budget.try_hold(10 * UNIT, 10);
        assert!(third.is_some());
        drop((second, third));
        assert_eq!(budget.held_bytes(), 0);
    }

    #[test]
    fn a_message_larger_than_the_budget_takes_all_of_it() {
        let budget = Budget::new(64 * UNIT);
        let all = budget.try_hold(1 << 30, 0).expect("capped at the budget");
        assert_eq!(budget.held_bytes(), 64 * UNIT);
        assert!(budget.try_hold(0, 0).is_none());
        drop(all);
        assert!(budget.try_hold(0, 0).is_some());
    }

    #[tokio::test]
    async fn a_waiting_message_proceeds_when_the_lanes_give_back() {
        let budget = Arc::new(Budget::new(8 * UNIT));
        let all = budget.try_hold(1 << 20, 0).expect("fits");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.hold(100, 5).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while the budget is spent");
        drop(all);
        let held = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("proceeds once given back")
            .expect("no panic");
        assert_eq!(budget.held_bytes(), UNIT);
        drop(held);
    }
}
