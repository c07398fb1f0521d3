//! Client-side verification of civicproof data (see `shared/spec/PROTOCOL.md`).
//!
//! Everything a verifier needs to recompute the bytes that civicproof hashes and signs lives
//! here, so the server, the CLI and third-party tools share one implementation and cannot drift
//! apart:
//!
//! - [`json`]: a strict RFC 8259 parser that enforces the I-JSON rules of PROTOCOL.md section 2
//!   (no duplicate names, no U+0000 or lone surrogates, depth ≤ 64, numbers as IEEE-754 doubles);
//! - [`jcs`]: RFC 8785 canonicalization, the bytes that get hashed;
//! - [`envelope`]: the entry envelope of section 2, its strict decoding and its leaf hash;
//! - [`merkle`]: RFC 6962 / 9162 tree hashes, inclusion and consistency proofs;
//! - [`note`] and [`checkpoint`]: C2SP signed notes and tlog checkpoints, strict Ed25519;
//! - [`cosignature`]: C2SP `cosignature/v1` witness cosignatures and the client's k-of-n
//!   [`cosignature::WitnessPolicy`];
//! - [`tlog_proof`]: the C2SP tlog-proof@v1 text form of an inclusion proof;
//! - [`bundle`]: the proof bundle of section 6 and the verification steps of section 7, step 8
//!   (anchor-online) included: [`bundle::verify_bundle_with`];
//! - [`chain`]: the anchor contract's ABI, pinned [`chain::AnchorTrust`], finality policies and the
//!   one-method JSON-RPC transport trait [`chain::ChainRpc`] step 8 runs over;
//! - [`consistency`]: verifying a consistency answer between two signed checkpoints;
//! - [`monitor`]: the checks (and, with features, the loop and command line) of
//!   `civicproof monitor`, which audits an instance's anchored history.
//!
//! The crate deliberately has no server, database or async dependencies, so it can be embedded in
//! any client; the chain is reached only through [`chain::ChainRpc`], which the caller implements
//! or takes from the `net` feature. Features:
//! - `net`: blocking HTTP(S) transports ([`chain::HttpRpc`], `monitor::HttpServer`) with ureq;
//! - `monitor`: `monitor::command`, the flags and loop of `civicproof monitor` (clap), so that the
//!   server binary offers the command with no server internals;
//! - `cli` (default): the `civicproof-verify` binary with its argument parser and trust file.
//!
//! `default-features = false` leaves the library alone.

pub mod bundle;
pub mod chain;
pub mod checkpoint;
pub mod consistency;
pub mod cosignature;
pub mod ed25519;
pub mod encoding;
pub mod envelope;
pub mod jcs;
pub mod json;
pub mod merkle;
pub mod monitor;
pub mod note;
pub mod tlog_proof;
