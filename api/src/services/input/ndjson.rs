//! An NDJSON body, line by line: one record per line, blank lines skipped, a line's text held
//! only up to `max_element_bytes`.

use super::{Caps, Checker, Flow, parse_record};
use crate::error::ApiError;
use std::io::Read;

const READ_CHUNK: usize = 64 * 1024;

/// Reads NDJSON records from `reader` into `checker`.
pub fn parse_lines(
    mut reader: impl Read,
    caps: Caps,
    checker: &mut Checker<'_>,
) -> Result<(), ApiError> {
    let mut line = Vec::new();
    let mut len = 0usize;
    let mut line_no = 1u64;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (part, newline) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            len += part.len();
            if len <= caps.max_element_bytes {
                line.extend_from_slice(part);
            } else {
                line = Vec::new();
            }
            rest = &rest[part.len() + usize::from(newline)..];
            if newline {
                if one_line(&line, len, line_no, caps, checker)? == Flow::Stop {
                    return Ok(());
                }
                line.clear();
                len = 0;
                line_no += 1;
            }
        }
        if n == 0 {
            one_line(&line, len, line_no, caps, checker)?;
            return Ok(());
        }
    }
}

fn one_line(
    line: &[u8],
    len: usize,
    line_no: u64,
    caps: Caps,
    checker: &mut Checker<'_>,
) -> Result<Flow, ApiError> {
    if len > caps.max_element_bytes {
        return checker.push(Err(format!(
            "line {line_no} is {len} bytes; the limit is {}",
            caps.max_element_bytes
        )));
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Flow::Continue);
    }
    match parse_record(line) {
        Ok(r) => checker.push(Ok(r)),
        Err(Ok(problem)) => checker.push(Err(problem)),
        Err(Err(syntax)) => Err(ApiError::BadRequest(format!(
            "Line {line_no} is not valid JSON: {syntax}"
        ))),
    }
}
