//! The RFC 8259 parser behind [`super::parse_strict`].
//!
//! It keeps open containers on an explicit stack instead of recursing, so hostile input such as a
//! megabyte of `[` costs a `TooDeep` error, never a stack overflow.

use serde_json::{Map, Value};

use super::{JsonError, MAX_SAFE_INTEGER, finite_number};

/// A container that has been opened but not yet closed.
enum Frame {
    Array(Vec<Value>),
    /// An object with the members read so far and the name whose value is being parsed.
    Object(Map<String, Value>, String),
}

impl Frame {
    fn close(self) -> Value {
        match self {
            Frame::Array(items) => Value::Array(items),
            Frame::Object(map, _) => Value::Object(map),
        }
    }
}

/// What the parser does after a value is complete.
enum Next {
    /// Parse another value (an array element or a member value).
    Value,
    /// The value just completed closes its container, or is the whole document.
    Done(Value),
}

pub(super) struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    /// Checks the encoding up front so the rest of the parser can slice `text` freely.
    pub(super) fn new(bytes: &'a [u8], max_depth: usize) -> Result<Self, JsonError> {
        let text = std::str::from_utf8(bytes).map_err(|_| JsonError::InvalidUtf8)?;
        if text.starts_with('\u{feff}') {
            return Err(JsonError::Syntax {
                offset: 0,
                expected: "a JSON value (a byte order mark is not allowed)",
            });
        }
        Ok(Parser {
            text,
            bytes,
            pos: 0,
            max_depth,
        })
    }

    /// Parses the whole input: one value surrounded by optional whitespace.
    pub(super) fn document(mut self) -> Result<Value, JsonError> {
        let value = self.value()?;
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(JsonError::TrailingData { offset: self.pos });
        }
        Ok(value)
    }

    /// Parses one value, nested containers included, without recursion.
    fn value(&mut self) -> Result<Value, JsonError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            self.skip_ws();
            let mut done = match self.peek() {
                Some(b'{') => self.open_object(&mut stack)?,
                Some(b'[') => self.open_array(&mut stack)?,
                _ => self.scalar()?,
            };
            // Attach completed values to their parents until one asks for another value.
            while let Some(value) = done {
                done = match self.attach(&mut stack, value)? {
                    Next::Value => None,
                    Next::Done(v) if stack.is_empty() => return Ok(v),
                    Next::Done(v) => Some(v),
                };
            }
        }
    }

    /// Consumes `{`; returns the value if the object is empty, else pushes a frame.
    fn open_object(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, JsonError> {
        self.enter(stack.len())?;
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(Some(Value::Object(Map::new())));
        }
        let map = Map::new();
        let name = self.member_name(&map, "a member name or '}'")?;
        stack.push(Frame::Object(map, name));
        Ok(None)
    }

    /// Consumes `[`; returns the value if the array is empty, else pushes a frame.
    fn open_array(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, JsonError> {
        self.enter(stack.len())?;
        self.skip_ws();
        if self.eat(b']') {
            return Ok(Some(Value::Array(Vec::new())));
        }
        stack.push(Frame::Array(Vec::new()));
        Ok(None)
    }

    /// Consumes the opening bracket of a container at depth `open + 1`, enforcing the limit.
    fn enter(&mut self, open: usize) -> Result<(), JsonError> {
        if open >= self.max_depth {
            return Err(JsonError::TooDeep {
                max: self.max_depth,
            });
        }
        self.pos += 1;
        Ok(())
    }

    /// Stores a completed value in the innermost open container and reads what follows it.
    fn attach(&mut self, stack: &mut Vec<Frame>, value: Value) -> Result<Next, JsonError> {
        let Some(mut frame) = stack.pop() else {
            return Ok(Next::Done(value));
        };
        self.skip_ws();
        match &mut frame {
            Frame::Array(items) => {
                items.push(value);
                if self.eat(b',') {
                    stack.push(frame);
                    return Ok(Next::Value);
                }
                if !self.eat(b']') {
                    return Err(self.syntax("',' or ']'"));
                }
            }
            Frame::Object(map, name) => {
                map.insert(std::mem::take(name), value);
                if self.eat(b',') {
                    self.skip_ws();
                    *name = self.member_name(map, "a member name")?;
                    stack.push(frame);
                    return Ok(Next::Value);
                }
                if !self.eat(b'}') {
                    return Err(self.syntax("',' or '}'"));
                }
            }
        }
        Ok(Next::Done(frame.close()))
    }

    /// Reads `"name" :` and refuses a name the object already has.
    fn member_name(
        &mut self,
        map: &Map<String, Value>,
        expected: &'static str,
    ) -> Result<String, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax(expected));
        }
        let name = self.string()?;
        if map.contains_key(&name) {
            return Err(JsonError::DuplicateName(name));
        }
        self.skip_ws();
        if !self.eat(b':') {
            return Err(self.syntax("':'"));
        }
        Ok(name)
    }

    /// Parses a string, number or literal; anything else is not a JSON value.
    fn scalar(&mut self) -> Result<Option<Value>, JsonError> {
        let value = match self.peek() {
            Some(b'"') => Value::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            _ => return Err(self.syntax("a JSON value")),
        };
        Ok(Some(value))
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, JsonError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax(word))
        }
    }

    /// Parses a string starting at its opening quote, unescaping it.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // `pos` stops only at ASCII bytes, which are always char boundaries.
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(0) => return Err(JsonError::NulCharacter),
                Some(_) => {
                    return Err(self.syntax("an escape sequence instead of a control character"));
                }
                None => return Err(self.syntax("'\"' to end the string")),
            }
        }
    }

    /// Decodes the escape after a backslash, joining surrogate pairs.
    fn escape(&mut self) -> Result<char, JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(),
            _ => return Err(self.syntax("one of '\"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u'")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// Decodes `uXXXX` (after the backslash), and a following low surrogate when needed.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        self.pos += 1;
        let unit = self.hex4()?;
        let code = match unit {
            0xd800..=0xdbff => {
                if !self.text[self.pos..].starts_with("\\u") {
                    return Err(JsonError::LoneSurrogate);
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(JsonError::LoneSurrogate);
                }
                0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(JsonError::LoneSurrogate),
            0 => return Err(JsonError::NulCharacter),
            _ => unit,
        };
        char::from_u32(code).ok_or(JsonError::LoneSurrogate)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.syntax("four hex digits after '\\u'"))?;
            unit = unit * 16 + digit;
            self.pos += 1;
        }
        Ok(unit)
    }

    /// Parses a number by the exact RFC 8259 grammar and converts it to the nearest double.
    fn number(&mut self) -> Result<serde_json::Number, JsonError> {
        let start = self.pos;
        self.eat(b'-');
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.syntax("'.', 'e' or the end of the number (no leading zeros)"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("a digit")),
        }
        let int_digits = self.pos - int_start;
        let mut integer = true;
        if self.eat(b'.') {
            integer = false;
            self.require_digits("a digit after the decimal point")?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.require_digits("a digit in the exponent")?;
        }
        let literal = &self.text[start..self.pos];
        if integer && !safe_integer(&self.text[int_start..int_start + int_digits]) {
            return Err(JsonError::IntegerTooLarge);
        }
        // The grammar above is a subset of what `f64::from_str` accepts, and it rounds correctly.
        let f: f64 = literal.parse().map_err(|_| self.syntax("a number"))?;
        finite_number(f)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self, expected: &'static str) -> Result<(), JsonError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.syntax(expected));
        }
        self.digits();
        Ok(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn syntax(&self, expected: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.pos,
            expected,
        }
    }
}

/// Whether an integer literal's digits (no sign, no leading zeros) are at most 2^53−1.
fn safe_integer(digits: &str) -> bool {
    // 2^53−1 has 16 digits; anything longer cannot fit, shorter always parses as u64.
    digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER)
}
