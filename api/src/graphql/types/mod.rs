//! The GraphQL types. Each maps a service's API shape (`crate::views`) or a stored row;
//! none holds rules of its own.

pub mod connections;
pub mod dataset;
pub mod enums;
pub mod inputs;
pub mod institution;
pub mod proofs;
pub mod record;
pub mod scalars;
