//! The rules of the API, once: REST handlers and GraphQL resolvers both call these.
//! Each function reads top to bottom: authorize, load, validate, one transaction, side
//! effects after commit.

pub mod anchors;
pub mod arrivals;
pub mod datasets;
pub mod dedup;
pub mod erasure;
pub mod events;
pub mod feed;
pub mod ingest_errors;
pub mod input;
pub mod institutions;
pub mod ngsi_ld;
pub mod proofs;
pub mod publish;
pub mod records;
pub mod text;
pub mod tiles;
pub mod tokens;
pub mod versions;
