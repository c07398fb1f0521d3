//! End-to-end tests: each test starts a real civicproof server on port 0 against its own
//! PostgreSQL database (cloned from a migrated template) and talks to it over real HTTP.
//!
//! Module index (the harness, `support` and `chain`, is the crate's library, shared with
//! the fault campaign in `tests/faults`):
//! - `authz`: authorization cases; restricted datasets look missing to outsiders; admin
//!   tokens listed and revoked.
//! - `authz_matrix`: the matrix generated from the route table (every REST operation and
//!   GraphQL root field × role × dataset access, over REST, SSE, GraphQL HTTP and WS).
//! - `publishing`: batches in JSON, NDJSON and CSV; all-or-nothing; every bad input.
//! - `sequencing`: concurrent publishers get gapless, unique seqs.
//! - `idempotency`: Idempotency-Key replay, mismatch and in-flight answers.
//! - `dedup_keys`: per-record dedup keys: replays across batches, conflicts, GraphQL.
//! - `ngsi_ld`: NGSI-LD upserts and notifications with the Smart Data Models fixtures,
//!   versions by entity id, both media types, reading entities back.
//! - `mqtt`: the MQTT bridge against a real mosquitto: once each, in order per topic, dead
//!   letters; the bridge, the network, the server and the broker failing under it.
//! - `erasure`: erasing payloads keeps the log intact.
//! - `leaves`: envelopes and leaf hashes match an independent computation.
//! - `feed`: paging, cursors, filters, formats, streaming.
//! - `cli`: the `civicproof-verify` command verifies served bundles online, with pinned
//!   trust and trust on first use, and fails on tampered data.
//! - `datasets`: catalog, metadata, schemas.
//! - `publishing_cli`: `civicproof publish | datasets | get` against a real server: files in
//!   batches, idempotent re-runs and resumes, a bad record named by its line, restricted data.
//! - `proofs`: bundles, checkpoints and consistency proofs verify with the verify crate;
//!   tampering fails at the right step; restarts keep history consistent.
//! - `system`: health, readiness, metrics, OpenAPI drift, DCAT-AP validation.
//! - `anchoring`: batches anchored on anvil; bundles with confirmed anchors; chain outages,
//!   reorgs and a fixed anchoring identity.
//! - `events`: Server-Sent Events in one process: format, resuming, heartbeats, access.
//! - `replicas`: two replicas on one PostgreSQL and one Redis: live feeds across them,
//!   shared rate limits and Idempotency-Keys, a Redis outage, erasure purges, cache fidelity.
//! - `hostile`: hostile input (NUL bytes, bodies built to exhaust memory), defensive
//!   headers, erased bytes gone from disk.
//! - `tiles`: C2SP tlog-tiles, read and checked by an outside client (`tlog_tiles`,
//!   `signed_note`): checkpoint signature, tree rebuilt from tiles, inclusion and consistency.
//! - `witnesses`: checkpoints cosigned by real `civicproof witness` processes (C2SP
//!   tlog-witness); k-of-n witness policies at step 4; a witness down, restarted or refusing.
//! - `graphql`: the GraphQL API (queries, pagination, filters, mutations' authorization,
//!   subscriptions over WebSocket, query limits, SDL drift).

pub use civicproof_tests::{chain, support};

mod anchoring;
mod authz;
mod authz_matrix;
mod cli;
mod datasets;
mod dedup_keys;
mod erasure;
mod events;
mod feed;
mod graphql;
mod hostile;
mod idempotency;
mod leaves;
mod mqtt;
mod ngsi_ld;
mod proofs;
mod publishing;
mod publishing_cli;
mod replicas;
mod sequencing;
mod system;
mod tiles;
mod witnesses;
