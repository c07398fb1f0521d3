//! The `Seq` scalar: seqs, tree sizes and counts as JSON numbers, never `Int` (32 bits) or
//! strings.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

pub use crate::domain::Seq;

/// The largest seq, size or count: 2^53 − 1, exact in every JSON implementation.
pub const MAX_SEQ: u64 = Seq::MAX;

/// A sequence number, tree size or count: a JSON number from 0 to 2^53−1 (9007199254740991).
#[Scalar(name = "Seq")]
impl ScalarType for Seq {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => match n.as_u64() {
                Some(u) if u <= MAX_SEQ => Ok(Seq(u)),
                _ => Err(InputValueError::custom(
                    "a Seq is an integer from 0 to 9007199254740991",
                )),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(n) if n.as_u64().is_some_and(|u| u <= MAX_SEQ))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// JSON text stored as such (a record's payload), sent as stored: the `JSON` scalar without
/// parsing the text into values and serializing them again. It resolves to a
/// [`Value::Binary`] holding the text; the HTTP transport writes such values verbatim and
/// every other response path parses them first (`crate::graphql::raw`).
pub struct RawJson(pub bytes::Bytes);

impl async_graphql::OutputType for RawJson {
    fn type_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("JSON")
    }

    /// The same scalar `serde_json::Value` registers (the schema allows the shared name).
    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        registry.create_output_type::<Self, _>(async_graphql::registry::MetaTypeId::Scalar, |_| {
            async_graphql::registry::MetaType::Scalar {
                name: "JSON".to_owned(),
                description: Some("A scalar that can represent any JSON value.".to_owned()),
                is_valid: None,
                visible: None,
                inaccessible: false,
                tags: Default::default(),
                specified_by_url: None,
                directive_invocations: Default::default(),
                requires_scopes: Default::default(),
            }
        })
    }

    async fn resolve(
        &self,
        _ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<Value> {
        Ok(Value::Binary(self.0.clone()))
    }
}
