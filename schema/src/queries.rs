//! Query functions, one module per table. Each takes a connection, so callers choose the
//! transaction boundaries.

pub mod anchors;
pub mod arrivals;
pub mod checkpoints;
pub mod datasets;
pub mod dedup;
pub mod entries;
pub mod idempotency;
pub mod institutions;
pub mod invalidations;
pub mod ngsi_ld;
pub mod tokens;
pub mod tree;
