//! What one GraphQL request may cost, checked before anything executes:
//! - the query document: at most [`MAX_QUERY_BYTES`] (the HTTP body as a whole is bounded by
//!   `CIVICPROOF_MAX_BODY_BYTES`, a WebSocket message by the frame limit);
//! - depth: at most [`MAX_DEPTH`] nested fields (introspection, which GraphiQL nests deeper,
//!   has its own bound [`MAX_INTROSPECTION_DEPTH`]);
//! - size: at most [`MAX_FIELDS`] fields once fragments are expanded, computed with each
//!   fragment measured once, so fragment bombs fail here in linear time instead of blowing up
//!   later validation;
//! - complexity: at most [`MAX_COMPLEXITY`], where a connection costs its page size times
//!   its selection, a proof [`PROOF_COST`], a `totalCount` [`COUNT_COST`] and a payload
//!   filter [`PAYLOAD_FILTER_COST`]; aliases each pay in full. What an operation then asks
//!   of the database while it runs is bounded separately (`crate::db::Budget`);
//! - page size: 1 to `CIVICPROOF_MAX_PAGE_SIZE` (1,000), checked by each connection.

use crate::graphql::errors::request_error;
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Request, ServerResult};
use std::collections::{HashMap, HashSet};

pub const MAX_QUERY_BYTES: usize = 64 * 1024;
pub const MAX_DEPTH: usize = 10;
pub const MAX_INTROSPECTION_DEPTH: usize = 16;
pub const MAX_FIELDS: usize = 2_000;
pub const MAX_COMPLEXITY: usize = 25_000;
/// Page size when neither `first` nor `last` is given (REST's default `limit`).
pub const DEFAULT_PAGE: usize = 100;
/// The largest page complexity assumes (the configured maximum is checked at execution).
pub const MAX_PAGE_FOR_COST: usize = 1_000;
pub const PROOF_COST: usize = 100;
pub const COUNT_COST: usize = 10;
/// A `records(payload: …)` connection: its filter reads the dataset's payloads (once per
/// connection, so every alias pays it).
pub const PAYLOAD_FILTER_COST: usize = 100;

/// The complexity of a connection field: its page size times the cost of one item.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first
        .or(last)
        .map(|n| n.clamp(1, MAX_PAGE_FOR_COST as i32) as usize)
        .unwrap_or(DEFAULT_PAGE);
    n.saturating_mul(child.max(1)).saturating_add(1)
}

/// The complexity of a `records` connection: its page, plus the payload filter's scan.
pub fn records_cost(
    first: Option<i32>,
    last: Option<i32>,
    payload: Option<&serde_json::Value>,
    child: usize,
) -> usize {
    let filter = if payload.is_some() {
        PAYLOAD_FILTER_COST
    } else {
        0
    };
    page_cost(first, last, child).saturating_add(filter)
}

/// Checks the document's size, parses it (the engine reuses the parsed document) and checks
/// its depth and expanded field count. Run by the schema's executor before every request.
pub fn check_request(request: &mut Request) -> ServerResult<()> {
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(request_error(
            "payload-too-large",
            413,
            format!("The query document exceeds the limit of {MAX_QUERY_BYTES} bytes."),
        ));
    }
    check_shape(request.parsed_query()?)
}

/// Depth and expanded field count of every operation in `doc`.
pub fn check_shape(doc: &ExecutableDocument) -> ServerResult<()> {
    let mut m = Measure {
        fragments: &doc.fragments,
        memo: HashMap::new(),
        visiting: HashSet::new(),
    };
    for (_, op) in doc.operations.iter() {
        let s = m.set(&op.node.selection_set.node);
        if s.introspection_too_deep || s.depth > MAX_DEPTH {
            return Err(request_error(
                "bad-request",
                400,
                format!("The query is nested too deeply; the limit is {MAX_DEPTH} levels."),
            ));
        }
        if s.fields > MAX_FIELDS {
            return Err(request_error(
                "bad-request",
                400,
                format!(
                    "The query selects too many fields once fragments are expanded; the limit is {MAX_FIELDS}."
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
struct Size {
    depth: usize,
    fields: usize,
    introspection_too_deep: bool,
}

impl Size {
    fn merge(&mut self, other: Size) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.introspection_too_deep |= other.introspection_too_deep;
    }
}

struct Measure<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<&'a str, Size>,
    /// Fragments being measured: a spread of one of them is a cycle, which validation
    /// rejects later; here it simply adds nothing.
    visiting: HashSet<&'a str>,
}

impl<'a> Measure<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Size {
        let mut total = Size::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let inner = self.set(&f.node.selection_set.node);
                    let name = f.node.name.node.as_str();
                    let mut s = Size {
                        depth: inner.depth + 1,
                        fields: inner.fields.saturating_add(1),
                        introspection_too_deep: inner.introspection_too_deep,
                    };
                    if name == "__schema" || name == "__type" {
                        s.introspection_too_deep |= s.depth > MAX_INTROSPECTION_DEPTH;
                        s.depth = 1;
                    }
                    total.merge(s);
                }
                Selection::InlineFragment(i) => {
                    let s = self.set(&i.node.selection_set.node);
                    total.merge(s);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    total.merge(self.fragment(name));
                }
            }
            if total.fields > MAX_FIELDS {
                break;
            }
        }
        total
    }

    fn fragment(&mut self, name: &'a str) -> Size {
        if let Some(s) = self.memo.get(name) {
            return *s;
        }
        let Some((key, def)) = self.fragments.get_key_value(name) else {
            return Size::default();
        };
        if !self.visiting.insert(key.as_str()) {
            return Size::default();
        }
        let s = self.set(&def.node.selection_set.node);
        self.visiting.remove(key.as_str());
        self.memo.insert(key.as_str(), s);
        s
    }
}
