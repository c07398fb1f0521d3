//! An NGSI-LD entity as a record: its `id` is the key, and the payload is the entity in
//! normalized form (ETSI GS CIM 009, clause 4.5) with its `@context` as sent.
//!
//! Contexts are copied, never fetched or expanded: expanding would make each append depend on
//! a third-party server (and open the server to request forgery through `@context` URLs).
//! Types are therefore matched as sent, a compacted term such as `AirQualityObserved`.

use serde_json::{Map, Value};

/// The NGSI-LD core context, the default when a request names none.
pub const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";

/// Attribute types of normalized form (clause 4.5.2 and later editions).
const ATTRIBUTE_TYPES: [&str; 8] = [
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "JsonProperty",
    "ListProperty",
    "ListRelationship",
];

const GEOJSON_TYPES: [&str; 7] = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
];

/// An entity ready to be a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: String,
    pub entity_type: String,
    /// Normalized, with `@context` an array.
    pub payload: Value,
}

/// An entity id: an absolute URI (RFC 3986 scheme, then `:`), at most 256 bytes (a record
/// key's limit), no spaces or controls.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 256 {
        return Err("the entity id must be 1 to 256 bytes".into());
    }
    let Some((scheme, rest)) = id.split_once(':') else {
        return Err(format!("the entity id {id:?} is not an absolute URI"));
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the entity id {id:?} is not an absolute URI"));
    }
    Ok(())
}

/// `@context` as an array: a string or an object becomes a one-element array.
pub fn context_array(context: &Value) -> Result<Value, String> {
    match context {
        Value::String(_) | Value::Object(_) => Ok(Value::Array(vec![context.clone()])),
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| matches!(i, Value::String(_) | Value::Object(_))) =>
        {
            Ok(context.clone())
        }
        _ => Err("@context must be a URL, an object, or a non-empty array of them".into()),
    }
}

/// The entity in normalized form under `context` (the effective context, an array); the
/// entity's own `@context` member, if any, must already have been taken into `context`.
pub fn to_entity(value: Value, context: &Value) -> Result<Entity, String> {
    let Value::Object(mut m) = value else {
        return Err("an entity must be a JSON object".into());
    };
    m.remove("@context");
    let id = match m.remove("id") {
        Some(Value::String(s)) => s,
        Some(_) => return Err("the entity id must be a string".into()),
        None => return Err("the entity has no id".into()),
    };
    check_id(&id)?;
    let entity_type = match m.remove("type") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => s,
        Some(Value::Array(_)) => {
            return Err("entities with several types are not supported; send one type".into());
        }
        _ => return Err("the entity type must be a non-empty string".into()),
    };
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.clone()));
    out.insert("type".into(), Value::String(entity_type.clone()));
    for (name, v) in m {
        let normalized = match name.as_str() {
            // Entity members that are not attributes stay as sent.
            "scope" | "createdAt" | "modifiedAt" | "deletedAt" => v,
            _ => normalize(v).map_err(|e| format!("attribute {name:?}: {e}"))?,
        };
        out.insert(name, normalized);
    }
    out.insert("@context".into(), context.clone());
    Ok(Entity {
        id,
        entity_type,
        payload: Value::Object(out),
    })
}

fn is_geojson(v: &Value) -> bool {
    v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| GEOJSON_TYPES.contains(&t))
        && (v.get("coordinates").is_some() || v.get("geometries").is_some())
}

/// One attribute in normalized form (the concise form's rules, clause 4.5.3): kept when it
/// names its type; `object` makes a Relationship, `languageMap` a LanguageProperty, a GeoJSON
/// value a GeoProperty, anything else a Property.
fn normalize(v: Value) -> Result<Value, String> {
    match v {
        // Multi-attribute instances (distinguished by datasetId).
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => items
            .into_iter()
            .map(normalize)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(m) => {
            if let Some(t) = m.get("type").and_then(Value::as_str)
                && ATTRIBUTE_TYPES.contains(&t)
            {
                if t == "Relationship" && !m.contains_key("object") {
                    return Err("a Relationship needs an object".into());
                }
                return Ok(Value::Object(m));
            }
            if is_geojson(&Value::Object(m.clone())) {
                return Ok(serde_json::json!({"type": "GeoProperty", "value": Value::Object(m)}));
            }
            let mut m = m;
            let t = if m.contains_key("object") {
                "Relationship"
            } else if m.contains_key("languageMap") {
                "LanguageProperty"
            } else if m.get("value").is_some_and(is_geojson) {
                "GeoProperty"
            } else if m.contains_key("value") {
                "Property"
            } else {
                return Ok(serde_json::json!({"type": "Property", "value": Value::Object(m)}));
            };
            m.insert("type".into(), Value::String(t.into()));
            Ok(Value::Object(m))
        }
        other => Ok(serde_json::json!({"type": "Property", "value": other})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Value {
        json!([CORE_CONTEXT])
    }

    #[test]
    fn normalized_entities_are_kept_as_sent_with_their_context() {
        let e = json!({
            "id": "urn:ngsi-ld:AirQualityObserved:a", "type": "AirQualityObserved",
            "pm10": {"type": "Property", "value": 29.1, "observedAt": "2026-11-26T10:10:00Z", "unitCode": "GQ"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [19.0, 50.2]}},
            "@context": "ignored here"
        });
        let out = to_entity(e.clone(), &ctx()).unwrap();
        assert_eq!(out.id, "urn:ngsi-ld:AirQualityObserved:a");
        assert_eq!(out.payload["pm10"], e["pm10"]);
        assert_eq!(out.payload["location"], e["location"]);
        assert_eq!(out.payload["@context"], ctx());
    }

    #[test]
    fn concise_attributes_are_normalized() {
        let e = json!({
            "id": "urn:x:1", "type": "T",
            "n": 3,
            "p": {"value": 1.5, "observedAt": "2026-11-26T10:00:00Z"},
            "r": {"object": "urn:x:2"},
            "g": {"type": "Point", "coordinates": [1.0, 2.0]},
            "gv": {"value": {"type": "Point", "coordinates": [1.0, 2.0]}},
            "l": {"languageMap": {"en": "park"}},
        });
        let p = to_entity(e, &ctx()).unwrap().payload;
        assert_eq!(p["n"], json!({"type": "Property", "value": 3}));
        assert_eq!(p["p"]["type"], "Property");
        assert_eq!(p["r"]["type"], "Relationship");
        assert_eq!(
            p["g"],
            json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}})
        );
        assert_eq!(p["gv"]["type"], "GeoProperty");
        assert_eq!(p["l"]["type"], "LanguageProperty");
    }

    #[test]
    fn bad_entities_are_refused_with_a_reason() {
        for (e, want) in [
            (json!({"type": "T"}), "no id"),
            (json!({"id": "not a uri", "type": "T"}), "absolute URI"),
            (json!({"id": "urn:x", "type": ["A", "B"]}), "several types"),
            (json!({"id": "urn:x"}), "type"),
            (
                json!({"id": "urn:x", "type": "T", "r": {"type": "Relationship"}}),
                "object",
            ),
            (json!([1]), "object"),
        ] {
            let err = to_entity(e.clone(), &ctx()).unwrap_err();
            assert!(err.contains(want), "{e}: {err}");
        }
        assert!(check_id(&format!("urn:{}", "x".repeat(300))).is_err());
    }
}
