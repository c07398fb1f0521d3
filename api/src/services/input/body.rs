//! A publishing body read as it arrives: chunks go to a parser on a blocking thread through a
//! small channel, while this side enforces the body limit and hashes every byte for the
//! Idempotency-Key fingerprint. When the parser has seen enough (the record limit or the
//! error cap), the rest of the body is hashed and dropped, never kept.

use super::{BatchFormat, Caps, CheckedRecord};
use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Chunks in flight between the request and its parser.
const CHANNEL_CHUNKS: usize = 4;

/// A batch body in chunks: an HTTP request body as it arrives, or bytes already in memory
/// (GraphQL builds them) as one chunk. Generic, so that a `Send` body (GraphQL's) keeps the
/// publishing future `Send`.
pub trait Body: Stream<Item = Result<Bytes, ()>> + Unpin {}

impl<S: Stream<Item = Result<Bytes, ()>> + Unpin> Body for S {}

/// A body already in memory.
pub fn in_memory(bytes: Vec<u8>) -> impl Body + Send {
    futures_util::stream::iter([Ok(Bytes::from(bytes))])
}

/// The parsed batch: its fingerprint (SHA-256 of the format code and the exact body bytes,
/// what makes two requests "the same" for an Idempotency-Key) and its records or what is
/// wrong with them. `Err` only when the body could not be read or is over `max_body` (413).
pub async fn read_batch(
    format: BatchFormat,
    mut body: impl Body,
    max_body: usize,
    caps: Caps,
    schema: Option<Value>,
    validator: Option<Arc<jsonschema::Validator>>,
) -> ApiResult<(Vec<u8>, ApiResult<Vec<CheckedRecord>>)> {
    let mut fingerprint = Sha256::new();
    fingerprint.update([format as u8]);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let parser = tokio::task::spawn_blocking(move || {
        super::parse(
            format,
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
            caps,
            schema.as_ref(),
            validator.as_deref(),
        )
    });
    let mut tx = Some(tx);
    let mut total = 0usize;
    // Returning early drops `tx`: the parser then reads the end of its input and stops.
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|()| ApiError::BadRequest("The request body could not be read.".into()))?;
        total += chunk.len();
        if total > max_body {
            return Err(ApiError::PayloadTooLarge(max_body));
        }
        fingerprint.update(&chunk);
        if let Some(sender) = &tx
            && sender.send(chunk).await.is_err()
        {
            tx = None; // the parser is done: the rest is only hashed
        }
    }
    drop(tx);
    let parsed = parser.await.map_err(ApiError::internal)?;
    Ok((fingerprint.finalize().to_vec(), parsed))
}

/// The parser's side of the channel, as a blocking reader.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
