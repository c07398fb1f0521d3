//! Request bodies at the HTTP edge, shared by REST routes and the GraphQL endpoint: the
//! size limit checked on `Content-Length` before anything is read, and while reading.

use crate::error::{ApiError, ApiResult};
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

/// 413 when the declared `Content-Length` is over `limit`; the declared length otherwise.
pub fn check_declared_length(req: &HttpRequest, limit: usize) -> ApiResult<Option<usize>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(declared)
}

/// Reads a body up to `limit` bytes; 413 beyond it (checked on Content-Length first).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> ApiResult<Vec<u8>> {
    let declared = check_declared_length(req, limit)?;
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
