//! The little JSON the suite speaks: one object per workload on one line, and a parser for it,
//! so that a test can read what `iospace bench --json` printed.
//!
//! Numbers are `f64`; a non-finite number is written as `null` (JSON has no NaN), so a reader
//! sees a missing value rather than a broken line.

use std::fmt::{self, Write};

/// A JSON value. Objects keep their keys in insertion order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, in key order of insertion.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to fill with [`with`](Self::with).
    pub fn object() -> Self {
        Json::Object(Vec::new())
    }

    /// This object with `key` set to `value` (appended). Not an object: unchanged.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Self {
        if let Json::Object(fields) = &mut self {
            fields.push((key.to_owned(), value.into()));
        }
        self
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(name, _)| name == key).map(|(_, value)| value),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
        let value = parser.value()?;
        parser.skip_whitespace();
        if parser.at != parser.bytes.len() {
            return Err(parser.error("trailing characters"));
        }
        Ok(value)
    }
}

impl From<f64> for Json {
    fn from(value: f64) -> Self {
        Json::Number(value)
    }
}

impl From<u64> for Json {
    fn from(value: u64) -> Self {
        Json::Number(value as f64)
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Self {
        Json::Bool(value)
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Self {
        Json::String(value.to_owned())
    }
}

impl From<String> for Json {
    fn from(value: String) -> Self {
        Json::String(value)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Self {
        value.map_or(Json::Null, Into::into)
    }
}

impl fmt::Display for Json {
    /// Compact JSON on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(value) => write!(f, "{value}"),
            Json::Number(number) if !number.is_finite() => f.write_str("null"),
            Json::Number(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
                write!(f, "{}", *number as i64)
            }
            Json::Number(number) => write!(f, "{number}"),
            Json::String(text) => write_string(f, text),
            Json::Array(items) => {
                f.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(fields) => {
                f.write_char('{')?;
                for (index, (key, value)) in fields.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Why a document did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("JSON at byte {at}: {what}")]
pub struct JsonError {
    /// Where the parser stopped.
    pub at: usize,
    /// What it expected or found.
    pub what: &'static str,
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> JsonError {
        JsonError { at: self.at, what }
    }

    fn skip_whitespace(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            None => Err(self.error("a value")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(_) => self.number(),
        }
    }

    fn object(&mut self) -> Result<Json, JsonError> {
        self.at += 1;
        let mut fields = Vec::new();
        self.skip_whitespace();
        if self.eat("}") {
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(self.error("a key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(":") {
                return Err(self.error("':'"));
            }
            fields.push((key, self.value()?));
            self.skip_whitespace();
            if self.eat("}") {
                return Ok(Json::Object(fields));
            }
            if !self.eat(",") {
                return Err(self.error("',' or '}'"));
            }
        }
    }

    fn array(&mut self) -> Result<Json, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat("]") {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            if self.eat("]") {
                return Ok(Json::Array(items));
            }
            if !self.eat(",") {
                return Err(self.error("',' or ']'"));
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut text = String::new();
        loop {
            let rest = std::str::from_utf8(&self.bytes[self.at..]).map_err(|_| self.error("UTF-8"))?;
            let mut chars = rest.chars();
            let c = chars.next().ok_or_else(|| self.error("a closing '\"'"))?;
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(text),
                '\\' => {
                    let escape = chars.next().ok_or_else(|| self.error("an escape"))?;
                    self.at += 1;
                    text.push(match escape {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'u' => {
                            let hex = rest.get(2..6).ok_or_else(|| self.error("four hex digits"))?;
                            let code = u32::from_str_radix(hex, 16).map_err(|_| self.error("hex digits"))?;
                            self.at += 4;
                            char::from_u32(code).ok_or_else(|| self.error("a scalar value"))?
                        }
                        _ => return Err(self.error("a known escape")),
                    });
                }
                c => text.push(c),
            }
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        while self
            .bytes
            .get(self.at)
            .is_some_and(|&b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at])
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .map(Json::Number)
            .ok_or(JsonError { at: start, what: "a number" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_documents_parse_back_to_the_same_value() {
        let value = Json::object()
            .with("name", "map \"io\"\n")
            .with("ops", 1_000_000u64)
            .with("ns_per_op", 12.5)
            .with("missing", None::<f64>)
            .with("ok", true)
            .with("list", Json::Array(vec![Json::Number(-3.0), Json::Null, Json::object()]));
        let text = value.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        assert_eq!(Json::parse(&text), Ok(value));
    }

    #[test]
    fn non_finite_numbers_are_written_as_null() {
        let text = Json::object().with("ratio", f64::NAN).with("inf", f64::INFINITY).to_string();
        assert_eq!(text, r#"{"ratio":null,"inf":null}"#);
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        for text in ["", "{", "{\"a\" 1}", "[1,", "\"abc", "{\"a\":1} x", "nul", "-", "\"\\u12\""] {
            assert!(Json::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(
            Json::parse(" {\"a\" : [ 1.5e3 , \"\\u0041\" ] } ").unwrap().get("a"),
            Some(&Json::Array(vec![Json::Number(1500.0), Json::String("A".into())]))
        );
    }
}
