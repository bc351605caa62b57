//! Python literals, as Ansible's INI reader turns a value into data with
//! `ast.literal_eval`: `5` is an integer, `True` a boolean, `[1, 2]` a list,
//! `"x"` a string without its quotes. Whatever is not a literal (`yes`,
//! `01`, `hello world`) stays the text it is, as in Ansible.

use serde_json::{Map, Number, Value};

/// The value Ansible gives an INI value `text` (already trimmed).
pub fn value(text: &str) -> Value {
    let mut p = Literal { s: text.as_bytes(), i: 0 };
    p.ws();
    match p.expr() {
        Some(v) => {
            p.ws();
            // A trailing `# comment` is fine for Python's parser.
            if p.i == p.s.len() || p.s[p.i] == b'#' {
                v
            } else {
                Value::String(text.to_owned())
            }
        }
        None => Value::String(text.to_owned()),
    }
}

struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|b| b == b' ' || b == b'\t') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                self.ws();
                let n = self.number()?;
                if !neg {
                    return Some(n);
                }
                match n {
                    Value::Number(n) if n.is_i64() => Some(Value::from(-n.as_i64()?)),
                    Value::Number(n) => serde_json::from_str(&format!("-{n}")).ok(),
                    _ => None,
                }
            }
            b'0'..=b'9' => self.number(),
            b'.' if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) => self.number(),
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Value::String("...".into()))
            }
            b'[' => {
                self.i += 1;
                self.items(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.items(b')').map(Value::Array)
            }
            b'{' => {
                self.i += 1;
                self.dict()
            }
            b'\'' | b'"' => self.strings(),
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                match word {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    _ if matches!(self.peek(), Some(b'\'' | b'"')) => {
                        self.i = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
        }
    }

    /// `a, b, c` up to `close`, a trailing comma allowed.
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.expr()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(out);
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        let mut out = Map::new();
        if self.eat(b'}') {
            return Some(Value::Object(out));
        }
        let first = self.expr()?;
        if !self.eat(b':') {
            // A set: Ansible turns it into a list.
            let mut items = vec![first];
            if self.eat(b',') {
                items.extend(self.items(b'}')?);
            } else if !self.eat(b'}') {
                return None;
            }
            return Some(Value::Array(items));
        }
        let mut key = first;
        loop {
            let v = self.expr()?;
            out.insert(key_text(&key)?, v);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(out));
            }
            if self.eat(b'}') {
                return Some(Value::Object(out));
            }
            key = self.expr()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            // An exponent's sign belongs to the number.
            let b = self.s[self.i];
            self.i += 1;
            if (b == b'e' || b == b'E')
                && !self.s[start..self.i].starts_with(b"0x")
                && !self.s[start..self.i].starts_with(b"0X")
                && matches!(self.peek(), Some(b'+' | b'-'))
            {
                self.i += 1;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        python_number(text)
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.ws();
            let start = self.i;
            let mut raw = false;
            while let Some(b) = self.peek() {
                match b.to_ascii_lowercase() {
                    b'r' => raw = true,
                    b'u' | b'b' => {}
                    _ => break,
                }
                self.i += 1;
            }
            let Some(q @ (b'\'' | b'"')) = self.peek() else {
                self.i = start;
                return any.then_some(Value::String(out));
            };
            let triple = self.s[self.i..].starts_with(&[q, q, q]);
            let quote_len = if triple { 3 } else { 1 };
            self.i += quote_len;
            loop {
                let b = self.peek()?;
                if b == q && (!triple || self.s[self.i..].starts_with(&[q, q, q])) {
                    self.i += quote_len;
                    break;
                }
                if b == b'\\' {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    if raw {
                        out.push('\\');
                        out.push(e as char);
                        continue;
                    }
                    match e {
                        b'\\' => out.push('\\'),
                        b'\'' => out.push('\''),
                        b'"' => out.push('"'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'a' => out.push('\x07'),
                        b'b' => out.push('\x08'),
                        b'f' => out.push('\x0c'),
                        b'v' => out.push('\x0b'),
                        b'x' | b'u' | b'U' => {
                            let len = match e {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + len)?).ok()?;
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                            self.i += len;
                        }
                        b'0'..=b'7' => {
                            let mut n = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        n = n * 8 + u32::from(d - b'0');
                                        self.i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(char::from_u32(n)?);
                        }
                        other => {
                            out.push('\\');
                            out.push(other as char);
                        }
                    }
                    continue;
                }
                // Multi-byte UTF-8 is copied whole.
                let len = utf8_len(b);
                out.push_str(std::str::from_utf8(self.s.get(self.i..self.i + len)?).ok()?);
                self.i += len;
            }
            any = true;
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// Dictionary keys as JSON keys, as `json.dumps` writes them.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// A Python integer or float literal (no sign); `None` when Python would
/// refuse it (`01`, `1a`, `1__0`) or it is imaginary.
fn python_number(text: &str) -> Option<Value> {
    let digits_ok = |s: &str, ok: fn(u8) -> bool| {
        !s.is_empty()
            && !s.starts_with('_')
            && !s.ends_with('_')
            && !s.contains("__")
            && s.bytes().all(|b| ok(b) || b == b'_')
    };
    let lower = text.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let rest = rest.strip_prefix('_').unwrap_or(rest);
            let ok = match radix {
                16 => digits_ok(rest, |b| b.is_ascii_hexdigit()),
                8 => digits_ok(rest, |b| (b'0'..=b'7').contains(&b)),
                _ => digits_ok(rest, |b| b == b'0' || b == b'1'),
            };
            if !ok {
                return None;
            }
            return integer(&u128::from_str_radix(&rest.replace('_', ""), radix).ok()?.to_string());
        }
    }
    let is_float = lower.contains('.') || lower.contains('e');
    if !is_float {
        if !digits_ok(&lower, |b| b.is_ascii_digit()) {
            return None;
        }
        let clean = lower.replace('_', "");
        if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
            return None;
        }
        return integer(if clean.bytes().all(|b| b == b'0') { "0" } else { &clean });
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let part_ok = |s: &str| s.is_empty() || digits_ok(s, |b| b.is_ascii_digit());
    if !part_ok(int) || !part_ok(frac) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits_ok(e, |b| b.is_ascii_digit()) {
            return None;
        }
    }
    let f: f64 = lower.replace('_', "").parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

/// An integer as JSON reads it (beyond 64 bits it becomes a float there too).
fn integer(decimal: &str) -> Option<Value> {
    serde_json::from_str(decimal).ok()
}

#[cfg(test)]
mod tests {
    use super::value;
    use serde_json::json;

    #[test]
    fn literals_become_data_and_the_rest_stays_text() {
        for (text, want) in [
            ("5", json!(5)),
            ("-5", json!(-5)),
            ("0x1F", json!(31)),
            ("1_000", json!(1000)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            ("True", json!(true)),
            ("None", json!(null)),
            ("'x'", json!("x")),
            ("\"a\\tb\"", json!("a\tb")),
            ("'a' 'b'", json!("ab")),
            ("[1, 'two', [3]]", json!([1, "two", [3]])),
            ("(1,)", json!([1])),
            ("{'a': 1, 2: 'b'}", json!({"a": 1, "2": "b"})),
            ("5 # five", json!(5)),
            ("...", json!("...")),
            ("yes", json!("yes")),
            ("01", json!("01")),
            ("00", json!(0)),
            ("1a", json!("1a")),
            ("hello world", json!("hello world")),
            ("[1, 2", json!("[1, 2")),
            ("10.0.0.1", json!("10.0.0.1")),
            ("~/.ssh/id", json!("~/.ssh/id")),
            ("-o UserKnownHostsFile=/x", json!("-o UserKnownHostsFile=/x")),
        ] {
            assert_eq!(value(text), want, "{text}");
        }
    }
}
