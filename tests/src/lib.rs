//! The harness the end-to-end suite (`tests/e2e`) and the fault campaign (`tests/faults`)
//! share: real servers (in this process or as `civicproof serve` processes), databases
//! cloned from a migrated template, redis-servers, anvil chains and fault injectors.
//!
//! - `support`: databases, servers, clients, request helpers, Redis, SSE, TCP partitions;
//! - `chain`: anvil chains and a JSON-RPC proxy that injects faults.

pub mod chain;
pub mod support;
