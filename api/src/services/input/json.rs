//! A JSON array body, element by element: a small scanner finds where each top-level element
//! ends (tracking nesting, strings and escapes only) and hands its text to the strict parser.
//! Only the element being read is held, and only up to `max_element_bytes`; the scanner
//! itself keeps a few counters, so a body of any shape costs bounded memory.

use super::{Caps, Checker, Flow, parse_record};
use crate::error::ApiError;
use std::io::Read;

const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]`.
    First,
    /// After a `,`: an element.
    Next,
    /// Inside an element.
    Element,
    /// After an element: `,` or `]`.
    Between,
    /// After the closing `]`: whitespace only.
    End,
}

/// Where the scanner is inside the current element.
#[derive(Debug, Default)]
struct Element {
    depth: u64,
    in_string: bool,
    escaped: bool,
    /// Raw bytes seen (kept in `text` only up to the cap).
    len: usize,
    text: Vec<u8>,
}

struct Scanner<'c, 'v> {
    caps: Caps,
    checker: &'c mut Checker<'v>,
    state: State,
    element: Element,
    line: u64,
    column: u64,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Scanner<'_, '_> {
    fn syntax(&self, what: &str) -> ApiError {
        ApiError::BadRequest(format!(
            "The body is not valid JSON (line {}, column {}): {what}.",
            self.line, self.column
        ))
    }

    /// Feeds one byte; `Ok(Flow::Stop)` once enough is known.
    fn byte(&mut self, b: u8) -> Result<Flow, ApiError> {
        if b == b'\n' {
            self.line += 1;
            self.column = 0;
        } else {
            self.column += 1;
        }
        match self.state {
            State::Start => match b {
                _ if is_ws(b) => {}
                b'[' => self.state = State::First,
                _ => {
                    return Err(ApiError::BadRequest(
                        "The body must be a JSON array of {\"key\", \"payload\"} objects.".into(),
                    ));
                }
            },
            State::First | State::Next => match b {
                _ if is_ws(b) => {}
                b']' if self.state == State::First => self.state = State::End,
                b']' | b',' => return Err(self.syntax("a value was expected")),
                _ => {
                    self.state = State::Element;
                    self.element = Element::default();
                    return self.in_element(b);
                }
            },
            State::Element => return self.in_element(b),
            State::Between => match b {
                _ if is_ws(b) => {}
                b',' => self.state = State::Next,
                b']' => self.state = State::End,
                _ => return Err(self.syntax("`,` or `]` was expected")),
            },
            State::End => {
                if !is_ws(b) {
                    return Err(self.syntax("data follows the array"));
                }
            }
        }
        Ok(Flow::Continue)
    }

    fn in_element(&mut self, b: u8) -> Result<Flow, ApiError> {
        let e = &mut self.element;
        // A scalar (number, literal) ends before the byte that ends it.
        if e.depth == 0 && !e.in_string && e.len > 0 && (b == b',' || b == b']' || is_ws(b)) {
            let flow = self.emit()?;
            if flow == Flow::Stop {
                return Ok(flow);
            }
            self.state = State::Between;
            return self.byte_again(b);
        }
        let e = &mut self.element;
        e.len += 1;
        if e.len <= self.caps.max_element_bytes {
            e.text.push(b);
        } else if !e.text.is_empty() {
            e.text = Vec::new(); // oversize: stop keeping it, keep scanning to its end
        }
        let mut done = false;
        if e.in_string {
            if e.escaped {
                e.escaped = false;
            } else if b == b'\\' {
                e.escaped = true;
            } else if b == b'"' {
                e.in_string = false;
                done = e.depth == 0;
            }
        } else {
            match b {
                b'"' => e.in_string = true,
                b'{' | b'[' => e.depth += 1,
                b'}' | b']' => {
                    e.depth = e.depth.saturating_sub(1);
                    done = e.depth == 0;
                }
                _ => {}
            }
        }
        if done {
            self.state = State::Between;
            return self.emit();
        }
        Ok(Flow::Continue)
    }

    /// Re-reads the byte that ended a scalar in the `Between` state (column already counted).
    fn byte_again(&mut self, b: u8) -> Result<Flow, ApiError> {
        match b {
            b',' => self.state = State::Next,
            b']' => self.state = State::End,
            _ => {}
        }
        Ok(Flow::Continue)
    }

    /// The element just read, to the checker.
    fn emit(&mut self) -> Result<Flow, ApiError> {
        let e = std::mem::take(&mut self.element);
        let index = self.checker.next_index();
        if e.len > self.caps.max_element_bytes {
            return self.checker.push(Err(format!(
                "the record's text is {} bytes or more; the limit is {}",
                e.len, self.caps.max_element_bytes
            )));
        }
        match parse_record(&e.text) {
            Ok(r) => self.checker.push(Ok(r)),
            Err(Ok(problem)) => self.checker.push(Err(problem)),
            Err(Err(syntax)) => Err(ApiError::BadRequest(format!(
                "The body is not valid JSON (record {index}): {syntax}."
            ))),
        }
    }
}

/// Reads a JSON array of records from `reader` into `checker`.
pub fn parse_array(
    mut reader: impl Read,
    caps: Caps,
    checker: &mut Checker<'_>,
) -> Result<(), ApiError> {
    let mut s = Scanner {
        caps,
        checker,
        state: State::Start,
        element: Element::default(),
        line: 1,
        column: 0,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if s.byte(b)? == Flow::Stop {
                return Ok(());
            }
        }
    }
    match s.state {
        State::End => Ok(()),
        State::Start => Err(ApiError::BadRequest(
            "The body must be a JSON array of {\"key\", \"payload\"} objects.".into(),
        )),
        State::Element if s.element.depth == 0 && !s.element.in_string => {
            s.emit()?;
            Err(s.syntax("the array is not closed"))
        }
        _ => Err(s.syntax("the body ends inside the array")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BatchFormat, parse};
    use super::*;

    fn caps() -> Caps {
        Caps {
            max_records: 100,
            max_payload_bytes: 64,
            max_element_bytes: 256,
        }
    }

    fn run(body: &str) -> Result<Vec<String>, ApiError> {
        parse(BatchFormat::Json, body.as_bytes(), caps(), None, None).map(|rs| {
            rs.into_iter()
                .map(|r| String::from_utf8(r.canonical).unwrap())
                .collect()
        })
    }

    #[test]
    fn elements_split_at_their_true_ends() {
        let body = r#" [ {"payload":{"s":"a,]}\"["}} ,{"key":"k","payload":{"n":[1,[2]]}}]  "#;
        assert_eq!(
            run(body).unwrap(),
            [r#"{"s":"a,]}\"["}"#, r#"{"n":[1,[2]]}"#]
        );
    }

    #[test]
    fn syntax_errors_are_400_and_record_errors_422() {
        for bad in [
            "",
            "{}",
            "[",
            "[{\"payload\":{}}",
            "[{\"payload\":{}},]",
            "[,]",
            "[{\"payload\":{}}] x",
            "[{\"payload\":{}} {\"payload\":{}}]",
            "[{\"payload\":}]",
        ] {
            assert!(
                matches!(run(bad), Err(ApiError::BadRequest(_))),
                "{bad:?}: {:?}",
                run(bad)
            );
        }
        for bad in ["[1]", "[1, 2]", "[\"s\"]", "[null]", "[{\"payload\":[]}]"] {
            assert!(
                matches!(run(bad), Err(ApiError::Validation(_))),
                "{bad:?}: {:?}",
                run(bad)
            );
        }
        assert!(matches!(run("[]"), Err(ApiError::Validation(_))));
    }

    #[test]
    fn an_oversized_element_is_a_record_problem_not_a_buffer() {
        let big = format!(
            r#"[{{"payload":{{}}}},{{"payload":{{"s":"{}"}}}}]"#,
            "x".repeat(10_000)
        );
        match run(&big) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].index, Some(1));
                assert!(errors[0].detail.contains("limit is 256"), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
