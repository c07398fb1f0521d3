//! The civicproof server: REST publishing and feeds over per-dataset append-only logs whose
//! formats PROTOCOL.md fixes. Start with [`server::run`]; the rules live in [`services`].

pub mod anchor;
pub mod auth;
pub mod cache;
pub mod client;
pub mod cluster;
pub mod config;
pub mod db;
pub mod dcat;
pub mod domain;
pub mod edge;
pub mod error;
pub mod fanout;
pub mod graphql;
pub mod json_schemas;
pub mod log;
pub mod logkey;
pub mod maintenance;
pub mod metrics;
pub mod openapi;
pub mod route_labels;
pub mod routes;
pub mod server;
pub mod services;
pub mod state;
pub mod views;

pub use config::Config;
pub use server::{build_state, run, serve};
