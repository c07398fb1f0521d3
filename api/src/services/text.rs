//! Text a caller sends to be compared with stored data (filters, searches, keys): one rule
//! for REST and GraphQL, checked where the query runs. U+0000 can never match (PROTOCOL.md
//! section 2 refuses it in payloads, keys refuse control characters), and PostgreSQL refuses
//! it in text parameters, so it is a 400 here rather than a database error.

use crate::error::{ApiError, ApiResult};
use civicproof_schema::queries::datasets::CatalogFilter;
use civicproof_schema::queries::entries::FeedFilter;

/// `value` of the parameter `name` holds no NUL.
pub fn check(name: &str, value: &str) -> ApiResult<()> {
    if value.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "{name} must not contain U+0000."
        )));
    }
    Ok(())
}

/// Every text of a feed filter.
pub fn check_feed_filter(f: &FeedFilter) -> ApiResult<()> {
    if let Some(key) = &f.key {
        check("key", key)?;
    }
    for p in &f.payload {
        check("a payload filter's field", &p.field)?;
        check(&format!("payload.{}", p.field), &p.value)?;
    }
    Ok(())
}

/// Every text of a catalog filter.
pub fn check_catalog_filter(f: &CatalogFilter) -> ApiResult<()> {
    for (name, value) in [
        ("institution", &f.institution),
        ("theme", &f.theme),
        ("keyword", &f.keyword),
        ("q", &f.q),
    ] {
        if let Some(v) = value {
            check(name, v)?;
        }
    }
    Ok(())
}
