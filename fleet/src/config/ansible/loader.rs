//! YAML as Ansible's loader (PyYAML, YAML 1.1) reads it: plain scalars
//! resolve to YAML 1.1 types (`yes` and `on` are booleans, `010` is octal,
//! `1e3` is text), anchors, aliases and merge keys (`<<`) work, and every
//! node keeps its line for messages.
//!
//! Tags: `!unsafe` is text (as Ansible's `--list` prints it), the core
//! `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` tags are honoured, and
//! `!vault` is refused: schedfleet cannot decrypt vaulted values. Duplicate
//! keys are refused (Ansible only warns and keeps the last).

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// One YAML node with the line it starts on.
#[derive(Debug, Clone)]
pub struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// Entries in document order; keys as written.
    Map(Vec<(Key, Node)>),
    Seq(Vec<Node>),
    Scalar(Value),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub text: String,
    pub line: usize,
}

impl Node {
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, v)| (k.text.clone(), v.to_json())).collect::<Map<_, _>>())
            }
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Scalar(v) => v.clone(),
        }
    }
}

/// Parses one YAML document; `Ok(None)` for a document with no content.
/// Errors are `(line, message)`.
pub fn parse(text: &str) -> Result<Option<Node>, (usize, String)> {
    let mut b = Builder { events: Parser::new_from_str(text), anchors: HashMap::new() };
    let mut root = None;
    loop {
        let (event, span) = b.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(..) => {
                if root.is_some() {
                    return Err((
                        span.start.line(),
                        "a second YAML document (`---`); an inventory is one document".into(),
                    ));
                }
            }
            Event::StreamEnd => return Ok(root),
            other => {
                if root.is_some() {
                    return Err((span.start.line(), "a second YAML document; an inventory is one document".into()));
                }
                root = Some(b.node(other, span)?);
            }
        }
    }
}

struct Builder<'a> {
    events: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
}

impl<'a> Builder<'a> {
    /// The next event that is data (comments are skipped).
    fn next(&mut self) -> Result<(Event<'a>, Span), (usize, String)> {
        loop {
            match self.events.next() {
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok(pair)) => return Ok(pair),
                Some(Err(e)) => return Err((e.marker().line(), e.info())),
                None => return Err((0, "unexpected end of the YAML stream".into())),
            }
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, (usize, String)> {
        let line = span.start.line();
        let (node, anchor) = match event {
            Event::Alias(id) => {
                let n = self.anchors.get(&id).cloned().ok_or((line, "an alias to an unknown anchor".to_owned()))?;
                return Ok(Node { line, kind: n.kind });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| (t.handle().to_owned(), t.suffix().to_owned()));
                (Node { line, kind: Kind::Scalar(scalar(&text, style, tag.as_ref(), line)?) }, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), line)?;
                let mut items = Vec::new();
                loop {
                    let (e, s) = self.next()?;
                    if matches!(e, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(e, s)?);
                }
                (Node { line, kind: Kind::Seq(items) }, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref(), line)?;
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut merged: Vec<(Key, Node)> = Vec::new();
                // Key text -> its line, and the keys merged so far: a mapping
                // of 50,000 hosts must not compare every key with every other.
                let mut seen: HashMap<String, usize> = HashMap::new();
                let mut seen_merged: HashSet<String> = HashSet::new();
                loop {
                    let (e, s) = self.next()?;
                    if matches!(e, Event::MappingEnd) {
                        break;
                    }
                    let key_line = s.start.line();
                    let is_merge = matches!(&e, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
                    let key = self.node(e, s)?;
                    let (ve, vs) = self.next()?;
                    let value = self.node(ve, vs)?;
                    if is_merge {
                        // Earlier sources of a merge win over later ones; explicit keys win over all.
                        let sources = match value.kind {
                            Kind::Map(m) => vec![m],
                            Kind::Seq(items) => items
                                .into_iter()
                                .map(|i| match i.kind {
                                    Kind::Map(m) => Ok(m),
                                    _ => Err((i.line, "a merge key (`<<`) takes mappings".to_owned())),
                                })
                                .collect::<Result<_, _>>()?,
                            _ => return Err((key_line, "a merge key (`<<`) takes a mapping or a list of them".into())),
                        };
                        for m in sources {
                            for (k, v) in m {
                                if seen_merged.insert(k.text.clone()) {
                                    merged.push((k, v));
                                }
                            }
                        }
                        continue;
                    }
                    let text = match key.kind {
                        Kind::Scalar(Value::String(s)) => s,
                        Kind::Scalar(Value::Null) => return Err((key_line, "a mapping key is empty (null)".into())),
                        Kind::Scalar(v) => v.to_string(),
                        _ => return Err((key_line, "a mapping key is a list or a mapping".into())),
                    };
                    if let Some(first_line) = seen.get(&text) {
                        return Err((
                            key_line,
                            format!("duplicate key `{text}` (first on line {first_line}); keep one"),
                        ));
                    }
                    seen.insert(text.clone(), key_line);
                    entries.push((Key { text, line: key_line }, value));
                }
                for (k, v) in merged {
                    if !seen.contains_key(&k.text) {
                        entries.push((k, v));
                    }
                }
                (Node { line, kind: Kind::Map(entries) }, anchor)
            }
            other => return Err((line, format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

fn check_collection_tag(tag: Option<&granit_parser::Tag>, line: usize) -> Result<(), (usize, String)> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle() == "tag:yaml.org,2002:" && matches!(t.suffix(), "map" | "seq" | "omap") => Ok(()),
        Some(t) => Err((line, format!("YAML tag `{}{}` is not supported here", t.handle(), t.suffix()))),
    }
}

fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&(String, String)>,
    line: usize,
) -> Result<Value, (usize, String)> {
    match tag.map(|(h, s)| (h.as_str(), s.as_str())) {
        Some(("!", "vault")) => {
            return Err((
                line,
                "a vaulted value (`!vault`): schedfleet cannot decrypt Ansible Vault; keep secrets out of the \
                 variables schedfleet reads, or give schedfleet an inventory without them"
                    .into(),
            ))
        }
        Some(("!", "unsafe")) => return Ok(Value::String(text.to_owned())),
        Some(("tag:yaml.org,2002:", "str")) => return Ok(Value::String(text.to_owned())),
        Some(("tag:yaml.org,2002:", "int" | "float" | "bool" | "null")) => {}
        Some((h, s)) => return Err((line, format!("YAML tag `{h}{s}` is not supported"))),
        None if style != ScalarStyle::Plain => return Ok(Value::String(text.to_owned())),
        None => {}
    }
    Ok(resolve_plain(text))
}

/// PyYAML's implicit resolvers (YAML 1.1) for a plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Value::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return Value::Bool(false),
        _ => {}
    }
    if let Some(v) = yaml11_int(text) {
        return v;
    }
    if let Some(f) = yaml11_float(text) {
        if let Some(n) = Number::from_f64(f) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_owned())
}

fn yaml11_int(text: &str) -> Option<Value> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let all = |s: &str, ok: fn(u8) -> bool| !s.is_empty() && s.bytes().all(ok);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0b") {
        all(r, |b| b == b'0' || b == b'1' || b == b'_').then_some((r, 2))?
    } else if let Some(r) = body.strip_prefix("0x") {
        all(r, |b| b.is_ascii_hexdigit() || b == b'_').then_some((r, 16))?
    } else if body == "0" {
        ("0", 10)
    } else if let Some(r) = body.strip_prefix('0') {
        all(r, |b| (b'0'..=b'7').contains(&b) || b == b'_').then_some((r, 8))?
    } else if body.as_bytes().first().is_some_and(|b| (b'1'..=b'9').contains(b)) {
        if all(body, |b| b.is_ascii_digit() || b == b'_') {
            (body, 10)
        } else {
            return sexagesimal(neg, body);
        }
    } else {
        return None;
    };
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return Some(Value::from(0));
    }
    let n = i128::from_str_radix(&clean, radix).ok()?;
    let n = if neg { -n } else { n };
    i64::try_from(n).map(Value::from).or_else(|_| u64::try_from(n).map(Value::from)).ok()
}

/// `1:30` is 90 in YAML 1.1.
fn sexagesimal(neg: bool, body: &str) -> Option<Value> {
    let mut parts = body.split(':');
    let first = parts.next()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let mut n: i64 = first.replace('_', "").parse().ok()?;
    let mut any = false;
    for p in parts {
        let ok = (1..=2).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || (b'0'..=b'5').contains(&p.as_bytes()[0]));
        if !ok {
            return None;
        }
        n = n.checked_mul(60)?.checked_add(p.parse::<i64>().ok()?)?;
        any = true;
    }
    any.then(|| Value::from(if neg { -n } else { n }))
}

fn yaml11_float(text: &str) -> Option<f64> {
    let (sign, body) = match text.as_bytes().first()? {
        b'-' => (-1.0, &text[1..]),
        b'+' => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return Some(sign * f64::INFINITY);
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    // `[0-9][0-9_]*\.[0-9_]*(e[-+][0-9]+)?`, or `\.[0-9_]+(e[-+][0-9]+)?` without a sign.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let ok_mantissa = if int.is_empty() {
        text.starts_with('.') && !frac.is_empty() && digits(frac)
    } else {
        int.as_bytes()[0].is_ascii_digit() && digits(int) && digits(frac)
    };
    let ok_exponent = exponent.is_none_or(|e| {
        e.len() > 1 && matches!(e.as_bytes()[0], b'+' | b'-') && e[1..].bytes().all(|b| b.is_ascii_digit())
    });
    if !(ok_mantissa && ok_exponent) {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let clean = if clean.starts_with('.') { format!("0{clean}") } else { clean };
    clean.parse::<f64>().ok().map(|f| sign * f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_resolve_as_yaml_1_1() {
        for (text, want) in [
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("y", json!("y")),
            ("010", json!(8)),
            ("0x10", json!(16)),
            ("0b11", json!(3)),
            ("1_000", json!(1000)),
            ("-5", json!(-5)),
            ("1:30", json!(90)),
            ("1e3", json!("1e3")),
            ("1.5", json!(1.5)),
            ("1.0e+3", json!(1000.0)),
            (".5", json!(0.5)),
            ("~", json!(null)),
            ("10.0.0.1", json!("10.0.0.1")),
            ("2001-12-14", json!("2001-12-14")),
        ] {
            assert_eq!(resolve_plain(text), want, "{text}");
        }
    }

    #[test]
    fn anchors_merges_quotes_and_lines() {
        let doc = "base: &b { x: 1, y: 2 }\nuse:\n  <<: *b\n  y: 3\nq: 'yes'\n";
        let node = parse(doc).unwrap().unwrap();
        assert_eq!(node.to_json(), json!({"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "q": "yes"}));
        let Kind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries[2].0.line, 5);
    }

    #[test]
    fn vault_duplicates_and_documents_are_refused() {
        let err = parse("a:\n  b: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6162\n").unwrap_err();
        assert!((2..=3).contains(&err.0), "the line of the value: {err:?}");
        assert!(err.1.contains("vault"), "{err:?}");
        assert_eq!(parse("a: 1\nb: 2\na: 3\n").unwrap_err().0, 3);
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("").unwrap().is_none());
        assert_eq!(parse("x: !unsafe '{{ y }}'\n").unwrap().unwrap().to_json(), json!({"x": "{{ y }}"}));
    }
}
