//! The fault campaign (`./run faults`): scenarios against real processes this binary starts
//! and kills itself (civicproof servers, PostgreSQL, Redis, anvil). Each scenario asserts its
//! promises and appends its figures to the report that `./run faults` prints as a table.
//!
//! `CIVICPROOF_FAULTS=quick` (CI, minutes) or `full` (the figures in docs/BENCHMARKS.md)
//! sets the sizes; without it every scenario fails at once, so the campaign can never pass
//! by not running. Run one at a time (`--test-threads 1`): they measure time and memory.
//!
//! Module index:
//! - `campaign`: the mode, the sizes and the report;
//! - `load`: a publisher that retries with its Idempotency-Keys until acknowledged, and the
//!   checks that nothing acknowledged was lost or duplicated and every proof verifies;
//! - `crash`: `kill -9` of the server during sustained ingest, many cycles;
//! - `postgres`: PostgreSQL stopped and restarted under load;
//! - `redis`: Redis killed and restarted under load with two replicas, an erasure between;
//! - `chain`: the chain down, a reorg, a dropped transaction; anchors catch up, never a
//!   false halt;
//! - `soak`: short intervals for thousands of anchor batches; memory stays flat;
//! - `hostile`: bodies built to exhaust memory, four at once; memory stays bounded.

mod campaign;
mod chain;
mod crash;
mod hostile;
mod load;
mod postgres;
mod redis;
mod soak;
