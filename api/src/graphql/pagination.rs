//! Relay connection arguments and cursors. Cursors are opaque strings; record cursors are
//! the REST feed's `next_cursor` values (interchangeable with REST), dataset cursors those
//! of the REST catalog.

use crate::error::{ApiError, ApiResult};
use crate::services::feed;
use crate::state::AppState;
use async_graphql::connection::CursorType;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Which end of the range a page is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `first` (or the default page size): the lowest items after `after`.
    First(usize),
    /// `last`: the highest items before `before`.
    Last(usize),
}

/// Checks `first`/`last` against the configured page size (1 to 1,000 by default).
pub fn window(state: &AppState, first: Option<i32>, last: Option<i32>) -> ApiResult<Window> {
    let max = state.config.limits.max_page_size;
    let check = |name: &str, n: i32| -> ApiResult<usize> {
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be from 1 to {max}.")))
    };
    match (first, last) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest("Give first or last, not both.".into())),
        (Some(n), None) => Ok(Window::First(check("first", n)?)),
        (None, Some(n)) => Ok(Window::Last(check("last", n)?)),
        (None, None) => Ok(Window::First(crate::graphql::limits::DEFAULT_PAGE.min(max))),
    }
}

/// The cursor of a record edge: the REST feed's `next_cursor` for that seq.
pub fn record_cursor(seq: i64) -> String {
    feed::cursor(seq)
}

/// A record edge's cursor ([`record_cursor`]), encoded only when a query asks for it.
pub struct RecordCursor(pub i64);

impl CursorType for RecordCursor {
    type Error = ApiError;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        parse_record_cursor("after", s).map(Self)
    }

    fn encode_cursor(&self) -> String {
        record_cursor(self.0)
    }
}

/// A record cursor (or a plain seq, as REST's `after` accepts).
pub fn parse_record_cursor(name: &str, value: &str) -> ApiResult<i64> {
    feed::parse_after(value)
        .map_err(|_| ApiError::BadRequest(format!("{name} is not a valid record cursor.")))
}

/// The cursor of a dataset edge, as REST's catalog `next_cursor`.
pub fn dataset_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

pub fn parse_dataset_cursor(value: &str) -> ApiResult<i64> {
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("id:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::BadRequest("after is not a valid dataset cursor.".into()))
}
