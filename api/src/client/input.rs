//! Streaming readers of the files `civicproof publish` accepts, cut into batch bodies in the
//! server's own formats. Memory is flat in the file size: one batch at a time.
//!
//! - CSV (RFC 4180, UTF-8, header row): re-encoded row by row; every batch starts with the
//!   header, so the server types cells exactly as it would for the whole file (API.md).
//! - NDJSON: one JSON object a line (blank lines skipped).
//! - JSON: one top-level array of objects, read element by element.
//!
//! JSON and NDJSON objects are records `{"key"?, "payload"}` or plain payloads, see [`Shape`].
//! Payload bytes are sent as they are in the file (never re-serialised), so numbers and
//! strings reach the server untouched.

use serde::de::IgnoredAny;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Ndjson,
    Json,
}

impl Format {
    /// From the file extension: `.csv`, `.ndjson`/`.jsonl`, `.json`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "ndjson" | "jsonl" => Some(Self::Ndjson),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The media type batches go out as.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv",
            Self::Ndjson => "application/x-ndjson",
            Self::Json => "application/json",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
            Self::Json => "json",
        }
    }
}

/// What a JSON or NDJSON object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// An object whose only members are `payload` and optionally `key` is a record; any
    /// other object is a plain payload.
    Auto,
    /// Every object is a record `{"key"?, "payload"}` (the server's own format).
    Records,
    /// Every object is a payload, published without a key.
    Payloads,
}

/// One batch body and where its records came from.
#[derive(Debug)]
pub struct Batch {
    /// 0-based batch index (the Idempotency-Key's second half).
    pub index: u64,
    /// 0-based index of the batch's first record in the file.
    pub first_record: u64,
    pub body: Vec<u8>,
    /// The 1-based input line each record starts on, in batch order.
    pub lines: Vec<u64>,
}

/// A record the client itself cannot send: bad syntax or a non-object.
#[derive(Debug)]
pub struct InputError {
    pub line: u64,
    /// 0-based record index in the file, when the problem is inside one record.
    pub record: Option<u64>,
    pub detail: String,
}

/// Reads a file as a sequence of batches.
pub struct Batches {
    reader: Box<dyn RecordReader>,
    batch_size: usize,
    next_index: u64,
    next_record: u64,
    done: bool,
    /// Bytes read from the file so far (for progress).
    pub consumed: Arc<AtomicU64>,
}

impl Batches {
    pub fn open(
        path: &Path,
        format: Format,
        shape: Shape,
        batch_size: usize,
    ) -> std::io::Result<Self> {
        let consumed = Arc::new(AtomicU64::new(0));
        let file = Counted {
            inner: File::open(path)?,
            count: consumed.clone(),
        };
        let buffered = BufReader::with_capacity(1 << 16, file);
        let reader: Box<dyn RecordReader> = match format {
            Format::Csv => Box::new(CsvReader::new(buffered)),
            Format::Ndjson => Box::new(NdjsonReader {
                src: buffered,
                shape,
                line: 0,
                buf: Vec::new(),
            }),
            Format::Json => Box::new(JsonArrayReader {
                src: Lines {
                    inner: buffered,
                    line: 1,
                },
                shape,
                state: ArrayState::Start,
            }),
        };
        Ok(Self {
            reader,
            batch_size: batch_size.max(1),
            next_index: 0,
            next_record: 0,
            done: false,
            consumed,
        })
    }

    /// The next batch, `None` at the end of the file.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, InputError> {
        if self.done {
            return Ok(None);
        }
        let mut body = Vec::new();
        let mut lines = Vec::new();
        self.reader.start(&mut body).map_err(|e| self.locate(e))?;
        while lines.len() < self.batch_size {
            let mark = body.len();
            if !lines.is_empty() {
                body.extend_from_slice(self.reader.separator());
            }
            match self.reader.next_into(&mut body) {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => {
                    body.truncate(mark);
                    self.done = true;
                    break;
                }
                Err(e) => {
                    return Err(self.locate_at(e, self.next_record + lines.len() as u64));
                }
            }
        }
        if lines.is_empty() {
            return Ok(None);
        }
        body.extend_from_slice(self.reader.end());
        let batch = Batch {
            index: self.next_index,
            first_record: self.next_record,
            body,
            lines,
        };
        self.next_index += 1;
        self.next_record += batch.lines.len() as u64;
        Ok(Some(batch))
    }

    fn locate(&self, (line, detail): (u64, String)) -> InputError {
        InputError {
            line,
            record: None,
            detail,
        }
    }

    fn locate_at(&self, (line, detail): (u64, String), record: u64) -> InputError {
        InputError {
            line,
            record: Some(record),
            detail,
        }
    }
}

/// A file format's record stream: `start` opens a batch body, records are separated by
/// `separator`, `end` closes it. Errors are (line, detail).
trait RecordReader {
    fn start(&mut self, body: &mut Vec<u8>) -> Result<(), (u64, String)>;
    fn separator(&self) -> &'static [u8];
    fn end(&self) -> &'static [u8];
    /// Appends the next record; its starting line, or `None` at the end.
    fn next_into(&mut self, body: &mut Vec<u8>) -> Result<Option<u64>, (u64, String)>;
}

/// Counts the bytes read from the file.
struct Counted {
    inner: File,
    count: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Src = BufReader<Counted>;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Appends a JSON object as a record: as it is when it is one, wrapped as `{"payload": …}`
/// when it is a plain payload.
fn append_record(raw: &[u8], shape: Shape, body: &mut Vec<u8>) -> Result<(), String> {
    let members: HashMap<String, IgnoredAny> = match raw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(raw).map_err(|e| format!("invalid JSON: {e}"))?,
        Some(_) => return Err("not a JSON object".into()),
        None => return Err("empty".into()),
    };
    let is_record =
        members.contains_key("payload") && members.keys().all(|k| k == "payload" || k == "key");
    let wrap = match shape {
        Shape::Auto => !is_record,
        Shape::Payloads => true,
        Shape::Records if members.contains_key("payload") => false,
        Shape::Records => {
            return Err("has no `payload` member (use --shape payloads for plain objects)".into());
        }
    };
    if wrap {
        body.extend_from_slice(b"{\"payload\":");
        body.extend_from_slice(raw);
        body.push(b'}');
    } else {
        body.extend_from_slice(raw);
    }
    Ok(())
}

struct NdjsonReader {
    src: Src,
    shape: Shape,
    line: u64,
    buf: Vec<u8>,
}

impl RecordReader for NdjsonReader {
    fn start(&mut self, _: &mut Vec<u8>) -> Result<(), (u64, String)> {
        Ok(())
    }
    fn separator(&self) -> &'static [u8] {
        b""
    }
    fn end(&self) -> &'static [u8] {
        b""
    }
    fn next_into(&mut self, body: &mut Vec<u8>) -> Result<Option<u64>, (u64, String)> {
        loop {
            self.buf.clear();
            let n = self
                .src
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| (self.line + 1, format!("cannot read the file: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut line: &[u8] = &self.buf;
            if self.line == 1 {
                line = line.strip_prefix(BOM).unwrap_or(line);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = line.trim_ascii_end();
            append_record(line, self.shape, body)
                .map_err(|e| (self.line, format!("line {}: {e}", self.line)))?;
            body.push(b'\n');
            return Ok(Some(self.line));
        }
    }
}

/// A buffered reader that knows the line it is on (JSON strings hold no raw newline, so every
/// `\n` byte is a line break).
struct Lines {
    inner: Src,
    line: u64,
}

impl Lines {
    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.inner.fill_buf()?.first().copied())
    }
    fn bump(&mut self) {
        if self.peek().ok().flatten() == Some(b'\n') {
            self.line += 1;
        }
        self.inner.consume(1);
    }
    fn skip_whitespace(&mut self) -> std::io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !b.is_ascii_whitespace() {
                return Ok(Some(b));
            }
            self.bump();
        }
        Ok(None)
    }
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.inner.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.line += available[..n].iter().filter(|b| **b == b'\n').count() as u64;
        self.inner.consume(n);
        Ok(n)
    }
}

#[derive(PartialEq)]
enum ArrayState {
    Start,
    First,
    Rest,
    Done,
}

struct JsonArrayReader {
    src: Lines,
    shape: Shape,
    state: ArrayState,
}

impl JsonArrayReader {
    fn io(&self, e: std::io::Error) -> (u64, String) {
        (self.src.line, format!("cannot read the file: {e}"))
    }
}

impl RecordReader for JsonArrayReader {
    fn start(&mut self, body: &mut Vec<u8>) -> Result<(), (u64, String)> {
        if self.state == ArrayState::Start {
            let line = self.src.line;
            let head = self
                .src
                .inner
                .fill_buf()
                .map_err(|e| (line, format!("cannot read the file: {e}")))?;
            if head.starts_with(BOM) {
                self.src.inner.consume(BOM.len());
            }
            match self.src.skip_whitespace().map_err(|e| self.io(e))? {
                Some(b'[') => self.src.bump(),
                _ => {
                    return Err((
                        self.src.line,
                        format!(
                            "line {}: a JSON file must hold one array of objects",
                            self.src.line
                        ),
                    ));
                }
            }
            self.state = ArrayState::First;
        }
        body.push(b'[');
        Ok(())
    }
    fn separator(&self) -> &'static [u8] {
        b",\n"
    }
    fn end(&self) -> &'static [u8] {
        b"]"
    }
    fn next_into(&mut self, body: &mut Vec<u8>) -> Result<Option<u64>, (u64, String)> {
        if self.state == ArrayState::Done {
            return Ok(None);
        }
        let next = self.src.skip_whitespace().map_err(|e| self.io(e))?;
        let at = self.src.line;
        match (next, &self.state) {
            (Some(b']'), _) => {
                self.src.bump();
                self.state = ArrayState::Done;
                if self
                    .src
                    .skip_whitespace()
                    .map_err(|e| self.io(e))?
                    .is_some()
                {
                    return Err((
                        self.src.line,
                        format!("line {}: content after the array", self.src.line),
                    ));
                }
                return Ok(None);
            }
            (Some(b','), ArrayState::Rest) => self.src.bump(),
            (None, _) => return Err((at, format!("line {at}: the array is not closed"))),
            (Some(_), ArrayState::Rest) => {
                return Err((at, format!("line {at}: expected `,` or `]`")));
            }
            _ => {}
        }
        self.src.skip_whitespace().map_err(|e| self.io(e))?;
        let line = self.src.line;
        let mut de = serde_json::Deserializer::from_reader(&mut self.src);
        let raw: Box<serde_json::value::RawValue> = serde::Deserialize::deserialize(&mut de)
            .map_err(|e| (line, format!("array element starting on line {line}: {e}")))?;
        append_record(raw.get().as_bytes(), self.shape, body)
            .map_err(|e| (line, format!("array element starting on line {line}: {e}")))?;
        self.state = ArrayState::Rest;
        Ok(Some(line))
    }
}

/// CSV rows re-encoded (RFC 4180, `\n` line ends) under the file's header.
struct CsvReader {
    rdr: csv::Reader<Src>,
    header: Option<Vec<u8>>,
    record: csv::ByteRecord,
}

impl CsvReader {
    fn new(src: Src) -> Self {
        Self {
            rdr: csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .from_reader(src),
            header: None,
            record: csv::ByteRecord::new(),
        }
    }
}

fn csv_error(e: &csv::Error) -> (u64, String) {
    let line = match e.kind() {
        csv::ErrorKind::UnequalLengths { pos: Some(p), .. } => p.line(),
        _ => e.position().map_or(0, |p| p.line()),
    };
    let detail = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("line {line}: {len} fields where the header has {expected_len}"),
        _ => format!("line {line}: {e}"),
    };
    (line, detail)
}

fn write_csv_row<'a>(fields: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    let single = fields.len() == 1;
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let quote = field
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
            // A lone empty field would be an empty line, which CSV readers skip.
            || (single && field.is_empty());
        if quote {
            out.push(b'"');
            for &b in field {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(field);
        }
    }
    out.push(b'\n');
}

impl RecordReader for CsvReader {
    fn start(&mut self, body: &mut Vec<u8>) -> Result<(), (u64, String)> {
        if self.header.is_none() {
            let headers = self.rdr.byte_headers().map_err(|e| csv_error(&e))?.clone();
            if headers.is_empty() {
                return Err((1, "line 1: the CSV file has no header row".into()));
            }
            let mut line = Vec::new();
            let fields: Vec<&[u8]> = headers
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if i == 0 {
                        f.strip_prefix(BOM).unwrap_or(f)
                    } else {
                        f
                    }
                })
                .collect();
            write_csv_row(fields.into_iter(), &mut line);
            self.header = Some(line);
        }
        body.extend_from_slice(self.header.as_deref().unwrap_or_default());
        Ok(())
    }
    fn separator(&self) -> &'static [u8] {
        b""
    }
    fn end(&self) -> &'static [u8] {
        b""
    }
    fn next_into(&mut self, body: &mut Vec<u8>) -> Result<Option<u64>, (u64, String)> {
        if !self
            .rdr
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(&e))?
        {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        write_csv_row(self.record.iter(), body);
        Ok(Some(line))
    }
}

/// SHA-256 of the whole file, read in chunks (the Idempotency-Keys' first half).
pub fn file_sha256(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(content: &str, format: Format, shape: Shape, size: usize) -> Vec<Batch> {
        let dir = std::env::temp_dir().join(format!(
            "civicproof-input-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&dir, content).unwrap();
        let mut b = Batches::open(&dir, format, shape, size).unwrap();
        let mut out = Vec::new();
        while let Some(batch) = b.next_batch().unwrap() {
            out.push(batch);
        }
        std::fs::remove_file(&dir).unwrap();
        out
    }

    fn error(content: &str, format: Format, size: usize) -> InputError {
        let path = std::env::temp_dir().join(format!(
            "civicproof-input-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, content).unwrap();
        let mut b = Batches::open(&path, format, Shape::Auto, size).unwrap();
        let result = loop {
            match b.next_batch() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error in {content:?}"),
                Err(e) => break e,
            }
        };
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn csv_batches_repeat_the_header_and_keep_quoted_fields() {
        let b = batches(
            "\u{feff}a,b\n1,\"x, \"\"y\"\"\"\n2,\"two\nlines\"\n3,\n",
            Format::Csv,
            Shape::Auto,
            2,
        );
        assert_eq!(b.len(), 2);
        assert_eq!(
            String::from_utf8(b[0].body.clone()).unwrap(),
            "a,b\n1,\"x, \"\"y\"\"\"\n2,\"two\nlines\"\n"
        );
        assert_eq!(String::from_utf8(b[1].body.clone()).unwrap(), "a,b\n3,\n");
        assert_eq!(b[0].lines, vec![2, 3]);
        assert_eq!(b[1].lines, vec![5]);
        assert_eq!(b[1].first_record, 2);
        // A one-column file keeps an empty cell as a row, not a skipped empty line.
        let b = batches("a\n\"\"\nx\n", Format::Csv, Shape::Auto, 10);
        assert_eq!(
            String::from_utf8(b[0].body.clone()).unwrap(),
            "a\n\"\"\nx\n"
        );
    }

    #[test]
    fn csv_rows_of_the_wrong_width_name_their_line() {
        let e = error("a,b\n1,2\n3\n", Format::Csv, 10);
        assert_eq!(e.line, 3);
        assert!(
            e.detail.contains("1 fields where the header has 2"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn ndjson_objects_are_records_or_payloads_by_shape() {
        let content = "{\"key\":\"a\",\"payload\":{\"n\":1}}\n\n{\"n\":2.50}\n{\"payload\":{\"n\":3},\"x\":1}\n";
        let b = batches(content, Format::Ndjson, Shape::Auto, 10);
        assert_eq!(
            String::from_utf8(b[0].body.clone()).unwrap(),
            "{\"key\":\"a\",\"payload\":{\"n\":1}}\n{\"payload\":{\"n\":2.50}}\n{\"payload\":{\"payload\":{\"n\":3},\"x\":1}}\n"
        );
        assert_eq!(b[0].lines, vec![1, 3, 4]);
        let b = batches(content, Format::Ndjson, Shape::Payloads, 10);
        assert!(b[0].body.starts_with(b"{\"payload\":{\"key\":\"a\""));
        let e = error("{\"n\":1}\n[1]\n", Format::Ndjson, 10);
        assert_eq!(e.line, 2);
        assert!(e.detail.contains("not a JSON object"), "{}", e.detail);
    }

    #[test]
    fn json_arrays_are_read_element_by_element_with_their_lines() {
        let content = "[\n  {\"a\": 1},\n  {\n    \"key\": \"k\", \"payload\": {\"b\": 1e400}\n  },\n  {\"c\": \"x\"}\n]\n";
        let b = batches(content, Format::Json, Shape::Auto, 2);
        assert_eq!(b.len(), 2);
        assert_eq!(
            String::from_utf8(b[0].body.clone()).unwrap(),
            "[{\"payload\":{\"a\": 1}},\n{\n    \"key\": \"k\", \"payload\": {\"b\": 1e400}\n  }]"
        );
        assert_eq!(b[0].lines, vec![2, 3]);
        assert_eq!(
            String::from_utf8(b[1].body.clone()).unwrap(),
            "[{\"payload\":{\"c\": \"x\"}}]"
        );
        assert_eq!(b[1].lines, vec![6]);
        assert!(batches("[]", Format::Json, Shape::Auto, 2).is_empty());
        for (bad, line, what) in [
            ("{\"a\":1}", 1, "one array"),
            ("[{\"a\":1},\n{\"b\":2},]", 2, "line 2"),
            ("[{\"a\":1}\n{\"b\":2}]", 2, "expected `,` or `]`"),
            ("[{\"a\":1}] x", 1, "content after the array"),
            ("[{\"a\":1},\n\n{\"a\":", 3, "line 3"),
            ("[{\"a\":1},\n 5]", 2, "not a JSON object"),
        ] {
            let e = error(bad, Format::Json, 10);
            assert_eq!(e.line, line, "{bad:?}: {}", e.detail);
            assert!(e.detail.contains(what), "{bad:?}: {}", e.detail);
        }
    }
}
