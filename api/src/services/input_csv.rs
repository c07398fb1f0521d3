//! CSV batches (API.md, Publishing): RFC 4180, UTF-8 with an optional BOM, comma, a header of
//! unique non-empty names; each row becomes a payload object and an optional `key` column
//! becomes the key.
//!
//! Typing without a schema: a cell is a number only if it is a JSON number that PROOFS.md's
//! number rule accepts (so `007`, `1,5`, `NaN`, `+1` stay strings); an empty cell is null.
//! With a schema, cells are coerced to the types its `properties` declare, and a row that
//! cannot be coerced fails with its index.

use crate::error::{ApiError, FieldError};
use civicproof_verify::json;
use serde_json::Value;

pub fn parse_csv(
    body: &[u8],
    schema: Option<&Value>,
) -> Result<Vec<(Option<String>, Value)>, ApiError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| bad_csv(&e))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    check_header(&headers)?;
    let declared: Vec<Option<Vec<String>>> =
        headers.iter().map(|h| declared_types(schema, h)).collect();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|e| bad_csv(&e))?;
        let mut key = None;
        let mut fields = Vec::with_capacity(headers.len());
        let mut row_error = None;
        for ((name, cell), types) in headers.iter().zip(row.iter()).zip(&declared) {
            if name == "key" {
                key = (!cell.is_empty()).then(|| cell.to_owned());
                continue;
            }
            let value = match types {
                None => untyped_cell(cell),
                Some(types) => match coerce_cell(cell, types) {
                    Some(v) => v,
                    None => {
                        row_error = Some(format!(
                            "column {name:?}: {cell:?} is not a {}",
                            types.join(" or ")
                        ));
                        break;
                    }
                },
            };
            fields.push((name.clone(), value));
        }
        match row_error {
            Some(detail) => errors.push(FieldError::record(index, detail)),
            None => out.push((key, super::input::object_from_pairs(fields))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn bad_csv(e: &csv::Error) -> ApiError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has a row of {len} fields where the header has {expected_len}")
        }
        _ => "is not valid CSV".to_owned(),
    };
    ApiError::BadRequest(format!("The CSV body {what}{at}."))
}

fn check_header(headers: &[String]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            errors.push(FieldError::field(
                format!("/header/{i}"),
                "header names must not be empty",
            ));
        } else if headers[..i].contains(h) {
            errors.push(FieldError::field(
                format!("/header/{i}"),
                format!("duplicate header name {h:?}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The JSON types a schema declares for a top-level property, if it declares any.
fn declared_types(schema: Option<&Value>, name: &str) -> Option<Vec<String>> {
    match schema?.get("properties")?.get(name)?.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// A cell by the untyped rule.
fn untyped_cell(cell: &str) -> Value {
    if cell.is_empty() {
        return Value::Null;
    }
    number_cell(cell).unwrap_or_else(|| Value::String(cell.to_owned()))
}

/// A JSON number the number rule accepts, as a double.
fn number_cell(cell: &str) -> Option<Value> {
    match json::parse_strict(cell.as_bytes()) {
        Ok(v @ Value::Number(_)) => Some(v),
        _ => None,
    }
}

/// The first declared type the cell converts to; `None` if none does.
fn coerce_cell(cell: &str, types: &[String]) -> Option<Value> {
    let allows = |t: &str| types.iter().any(|x| x == t);
    if cell.is_empty() {
        if allows("null") {
            return Some(Value::Null);
        }
        if allows("string") {
            return Some(Value::String(String::new()));
        }
        return None;
    }
    if allows("integer")
        && let Some(Value::Number(n)) = number_cell(cell)
        && n.as_f64().is_some_and(|f| f.fract() == 0.0)
    {
        return Some(Value::Number(n));
    }
    if allows("number")
        && let Some(v) = number_cell(cell)
    {
        return Some(v);
    }
    if allows("boolean") {
        match cell {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            _ => {}
        }
    }
    if allows("string") {
        return Some(Value::String(cell.to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(csv: &str, schema: Option<Value>) -> Vec<(Option<String>, Value)> {
        parse_csv(csv.as_bytes(), schema.as_ref()).unwrap()
    }

    #[test]
    fn untyped_cells_become_numbers_only_under_the_number_rule() {
        let r = rows(
            "a,b,c,d,e,f,g,h\n1.50,007,\"1,5\",NaN,+1,,9007199254740993,-0\n",
            None,
        );
        assert_eq!(
            r[0].1,
            json!({"a": 1.5, "b": "007", "c": "1,5", "d": "NaN", "e": "+1", "f": null, "g": "9007199254740993", "h": -0.0})
        );
    }

    #[test]
    fn key_column_becomes_the_key_and_bom_is_dropped() {
        let r = rows("\u{feff}key,v\nk1,x\n,y\n", None);
        assert_eq!(r[0].0.as_deref(), Some("k1"));
        assert_eq!(r[1].0, None);
        assert_eq!(r[0].1, json!({"v": "x"}));
    }

    #[test]
    fn schema_types_coerce_cells_and_bad_rows_name_their_index() {
        let schema = json!({"properties": {"n": {"type": "integer"}, "s": {"type": "string"}, "b": {"type": ["boolean", "null"]}}});
        let r = rows("n,s,b\n5,007,true\n6,8,\n", Some(schema.clone()));
        assert_eq!(r[0].1, json!({"n": 5.0, "s": "007", "b": true}));
        assert_eq!(r[1].1, json!({"n": 6.0, "s": "8", "b": null}));
        let err = parse_csv(b"n,s,b\n5,x,true\n1.5,x,false\n", Some(&schema)).unwrap_err();
        match err {
            ApiError::Validation(errors) => assert_eq!(errors[0].index, Some(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_headers_and_ragged_rows_are_refused() {
        assert!(matches!(
            parse_csv(b"a,a\n1,2\n", None),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            parse_csv(b"a,\n1,2\n", None),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            parse_csv(b"a,b\n1\n", None),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_csv(b"a\n\xff\n", None),
            Err(ApiError::BadRequest(_))
        ));
    }
}
