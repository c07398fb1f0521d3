//! Dataset JSON Schemas (API.md, Dataset schemas): draft 2020-12, `$ref`s resolve only inside
//! the document, and the validator never fetches or reads anything. Compiled validators are
//! cached per dataset and schema text.

use crate::error::ApiError;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Refuses every external reference: no network, no file system.
struct NoRetrieval;

impl jsonschema::Retrieve for NoRetrieval {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(
            format!("external reference {uri} is not allowed: $ref must point inside the schema")
                .into(),
        )
    }
}

/// Compiles a schema; a schema that does not compile (or refers outside itself) is 422.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, ApiError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(ApiError::validation(
            "/schema",
            "schema must be a JSON Schema object",
        ));
    }
    jsonschema::draft202012::options()
        .with_retriever(NoRetrieval)
        .build(schema)
        .map_err(|e| ApiError::validation("/schema", format!("the schema does not compile: {e}")))
}

/// A compiled validator and the SHA-256 of the schema text it was compiled from.
type Compiled = ([u8; 32], Arc<jsonschema::Validator>);

#[derive(Default)]
pub struct SchemaCache {
    by_dataset: Mutex<HashMap<i64, Compiled>>,
}

impl SchemaCache {
    /// The compiled validator for this dataset's current schema text.
    pub fn get(
        &self,
        dataset_id: i64,
        schema_text: &str,
    ) -> Result<Arc<jsonschema::Validator>, ApiError> {
        let digest: [u8; 32] = Sha256::digest(schema_text.as_bytes()).into();
        if let Some((d, v)) = self
            .by_dataset
            .lock()
            .expect("schema cache lock")
            .get(&dataset_id)
            && *d == digest
        {
            return Ok(v.clone());
        }
        let schema: Value = serde_json::from_str(schema_text).map_err(ApiError::internal)?;
        let validator = Arc::new(compile(&schema)?);
        self.by_dataset
            .lock()
            .expect("schema cache lock")
            .insert(dataset_id, (digest, validator.clone()));
        Ok(validator)
    }
}
