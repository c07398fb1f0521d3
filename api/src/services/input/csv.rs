//! CSV batches (API.md, Publishing): RFC 4180, UTF-8 with an optional BOM, comma, a header of
//! unique non-empty names; each row becomes a payload object and an optional `key` column
//! becomes the key.
//!
//! Typing without a schema: a cell is a number only if it is a JSON number that PROTOCOL.md's
//! number rule accepts (so `007`, `1,5`, `NaN`, `+1` stay strings); an empty cell is null.
//! With a schema, cells are coerced to the types its `properties` declare, and a row that
//! cannot be coerced fails with its index.

use super::{Caps, Checker, Flow, MAX_ERRORS, ParsedRecord};
use crate::error::{ApiError, FieldError};
use civicproof_verify::json;
use serde_json::Value;
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

/// Reads CSV records from `reader` into `checker`; a row's text is held only up to
/// `max_element_bytes` (the reader refuses to read further into one row).
pub fn parse_csv(
    reader: impl Read,
    caps: Caps,
    schema: Option<&Value>,
    checker: &mut Checker<'_>,
) -> Result<(), ApiError> {
    let row_start = Rc::new(Cell::new(0u64));
    let budget = RowBudget {
        inner: SkipBom::new(reader),
        read: 0,
        row_start: row_start.clone(),
        // csv reads ahead a buffer's worth past the row it parses.
        cap: caps.max_element_bytes as u64 + 64 * 1024,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(budget);
    let headers = reader
        .headers()
        .map_err(|e| bad_csv(&e))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    check_header(&headers)?;
    let declared: Vec<Option<Vec<String>>> =
        headers.iter().map(|h| declared_types(schema, h)).collect();
    let mut row = csv::StringRecord::new();
    loop {
        row_start.set(reader.position().byte());
        match reader.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) if is_oversize(&e) => {
                checker.push(Err(format!(
                    "the row is larger than {} bytes",
                    caps.max_element_bytes
                )))?;
                return Ok(());
            }
            Err(e) => return Err(bad_csv(&e)),
        }
        if checker.push(
            row_to_record(&headers, &declared, &row)
                .map(|(key, payload)| ParsedRecord::keyed(key, payload)),
        )? == Flow::Stop
        {
            return Ok(());
        }
    }
}

/// One row as (key, payload), or why its cells do not fit the schema.
fn row_to_record(
    headers: &[String],
    declared: &[Option<Vec<String>>],
    row: &csv::StringRecord,
) -> Result<(Option<String>, Value), String> {
    let mut key = None;
    let mut fields = Vec::with_capacity(headers.len());
    for ((name, cell), types) in headers.iter().zip(row.iter()).zip(declared) {
        if name == "key" {
            key = (!cell.is_empty()).then(|| cell.to_owned());
            continue;
        }
        let value = match types {
            None => untyped_cell(cell),
            Some(types) => coerce_cell(cell, types).ok_or_else(|| {
                format!("column {name:?}: {cell:?} is not a {}", types.join(" or "))
            })?,
        };
        fields.push((name.clone(), value));
    }
    Ok((key, super::object_from_pairs(fields)))
}

/// The reader under csv: counts what one row has read and fails past the cap.
struct RowBudget<R> {
    inner: R,
    read: u64,
    row_start: Rc<Cell<u64>>,
    cap: u64,
}

const OVERSIZE: &str = "civicproof: CSV row over the size limit";

impl<R: Read> Read for RowBudget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.row_start.get()) > self.cap {
            return Err(std::io::Error::other(OVERSIZE));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn is_oversize(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(io) if io.to_string() == OVERSIZE)
}

/// Drops a UTF-8 byte order mark at the start.
struct SkipBom<R> {
    inner: R,
    head: Vec<u8>,
    checked: bool,
}

impl<R: Read> SkipBom<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            head: Vec::new(),
            checked: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            let mut first = [0u8; 3];
            let mut got = 0;
            while got < 3 {
                let n = self.inner.read(&mut first[got..])?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            if &first[..got] != b"\xEF\xBB\xBF" {
                self.head = first[..got].to_vec();
            }
            self.checked = true;
        }
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
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

/// Empty and duplicate header names, at most [`MAX_ERRORS`] of them. Linear in the header's
/// length: a header is up to an element's size (a megabyte of commas is a million names), so
/// neither the problems nor the duplicate check may grow faster than it (found by fuzzing).
fn check_header(headers: &[String]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        if errors.len() == MAX_ERRORS {
            break;
        }
        if h.is_empty() {
            errors.push(FieldError::field(
                format!("/header/{i}"),
                "header names must not be empty",
            ));
        } else if !seen.insert(h.as_str()) {
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
    use super::super::{BatchFormat, CheckedRecord, parse};
    use super::*;
    use serde_json::json;

    fn caps() -> Caps {
        Caps {
            max_records: 100,
            max_payload_bytes: 64 * 1024,
            max_element_bytes: 1 << 20,
        }
    }

    fn run(csv: &[u8], schema: Option<&Value>) -> Result<Vec<CheckedRecord>, ApiError> {
        let validator = None;
        parse(BatchFormat::Csv, csv, caps(), schema, validator)
    }

    /// Found by fuzzing (fuzz/artifacts/input_csv/crash-be92…): a header of 103 empty names
    /// listed 103 problems, and a megabyte of commas would list a million.
    #[test]
    fn header_problems_stop_at_the_error_cap() {
        let header = format!("N{}\n", ",".repeat(102));
        match run(header.as_bytes(), None) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors.len(), MAX_ERRORS),
            other => panic!("expected a 422, got {other:?}"),
        }
        // 100,000 names, duplicates from the 1,001st: linear, not 10^10 comparisons.
        let names: Vec<String> = (0..100_000).map(|i| format!("c{}", i % 1000)).collect();
        let wide = format!("{}\n", names.join(","));
        match run(wide.as_bytes(), None) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors.len(), MAX_ERRORS);
                assert!(format!("{:?}", errors[0]).contains("duplicate header name"));
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn payloads(csv: &str, schema: Option<Value>) -> Vec<(Option<String>, Value)> {
        run(csv.as_bytes(), schema.as_ref())
            .unwrap()
            .into_iter()
            .map(|r| (r.key, serde_json::from_slice(&r.canonical).unwrap()))
            .collect()
    }

    #[test]
    fn untyped_cells_become_numbers_only_under_the_number_rule() {
        let r = payloads(
            "a,b,c,d,e,f,g,h\n1.50,007,\"1,5\",NaN,+1,,9007199254740993,-0\n",
            None,
        );
        assert_eq!(
            r[0].1,
            json!({"a": 1.5, "b": "007", "c": "1,5", "d": "NaN", "e": "+1", "f": null, "g": "9007199254740993", "h": 0})
        );
    }

    #[test]
    fn key_column_becomes_the_key_and_bom_is_dropped() {
        let r = payloads("\u{feff}key,v\nk1,x\n,y\n", None);
        assert_eq!(r[0].0.as_deref(), Some("k1"));
        assert_eq!(r[1].0, None);
        assert_eq!(r[0].1, json!({"v": "x"}));
    }

    #[test]
    fn schema_types_coerce_cells_and_bad_rows_name_their_index() {
        let schema = json!({"properties": {"n": {"type": "integer"}, "s": {"type": "string"}, "b": {"type": ["boolean", "null"]}}});
        let r = payloads("n,s,b\n5,007,true\n6,8,\n", Some(schema.clone()));
        assert_eq!(r[0].1, json!({"n": 5, "s": "007", "b": true}));
        assert_eq!(r[1].1, json!({"n": 6, "s": "8", "b": null}));
        match run(b"n,s,b\n5,x,true\n1.5,x,false\n", Some(&schema)) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].index, Some(1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_headers_and_ragged_rows_are_refused() {
        assert!(matches!(
            run(b"a,a\n1,2\n", None),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            run(b"a,\n1,2\n", None),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            run(b"a,b\n1\n", None),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            run(b"a\n\xff\n", None),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn a_row_past_the_size_cap_is_a_record_problem() {
        let mut body = b"a\n1\n\"".to_vec();
        body.extend(std::iter::repeat_n(b'x', 3 << 20));
        body.extend(b"\"\n");
        match run(&body, None) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors[0].index, Some(1));
                assert!(errors[0].detail.contains("larger than"), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
