//! YAML through serde-saphyr (maintained, rejects duplicate keys, reports
//! line and column), with errors that name the file.
//!
//! Errors found by serde carry their line. Errors found after parsing (a
//! pattern that matches nothing, a parameter out of range) find theirs in
//! [`Positions`], which reads the file again as a tree of positions.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::BadInput;

/// Files larger than this are refused before parsing: config is small, and
/// a huge file is a mistake or an attack.
pub const MAX_FILE_BYTES: usize = 4 << 20;

pub fn parse<T: DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, BadInput> {
    let text = text(file, bytes)?;
    // The user-facing wording leaves out hints meant for programmers
    // (`set DuplicateKeyPolicy in Options`), and the snippet names the file.
    let options = serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        source_name: Some(file),
    };
    serde_saphyr::from_str_with_options(text, parse_options(text)).map_err(|e| {
        let rendered = e.render_with_options(options);
        BadInput::new(format!("failed to parse `{file}`: {}", rendered.strip_prefix("error: ").unwrap_or(&rendered)))
    })
}

/// The parser's budget grows with the file: a YAML node takes at least a
/// byte or two of text unless aliases repeat it, so a budget of a node per
/// byte (and three events per byte) admits every file written out in full,
/// such as an inventory of 60,000 hosts, while an alias bomb, whose nodes
/// outnumber its bytes many times over, is still refused. Never below the
/// parser's own defaults.
fn parse_options(text: &str) -> serde_saphyr::Options {
    let defaults = serde_saphyr::Budget::default();
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: defaults.max_nodes.max(text.len()),
            max_events: defaults.max_events.max(3 * text.len()),
        },
    }
}

/// The file as text, refused when too large, not UTF-8, or empty.
fn text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, BadInput> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(BadInput::new(format!(
            "`{file}` is {} bytes; config files are limited to {MAX_FILE_BYTES}",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        BadInput::new(format!("`{file}` line {line}: not valid UTF-8"))
    })?;
    // A file of nothing but comments and document markers holds no more than an empty one.
    let blank = |l: &str| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    };
    if text.lines().all(blank) {
        return Err(BadInput::new(format!("`{file}` is empty (nothing but blanks and comments)")));
    }
    Ok(text)
}

/// One step from a node to a child: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the nodes of one file are, for messages about values that parsed
/// but are wrong. Reads the file a second time, so build it once per file.
pub struct Positions {
    file: String,
    root: Option<Spanned<Node>>,
}

impl Positions {
    /// Positions of `bytes`; a file that does not parse has none (its own
    /// parse error is reported first anyway).
    pub fn new(file: &str, bytes: &[u8]) -> Positions {
        let root = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| serde_saphyr::from_str_with_options(text, parse_options(text)).ok());
        Positions { file: file.to_owned(), root }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line of the node at `path` (of a mapping entry, its key's
    /// line); `None` when the file has no such node.
    pub fn line(&self, path: &[Step<'_>]) -> Option<u64> {
        let root = self.root.as_ref()?;
        let mut line = root.referenced.line();
        let mut node = &root.value;
        for step in path {
            let (at, next) = match (node, step) {
                (Node::Map(entries), Step::Key(k)) => {
                    entries.iter().find(|(key, _)| key.value == *k).map(|(key, v)| (key.referenced.line(), v))?
                }
                (Node::Seq(items), Step::Index(i)) => items.get(*i).map(|v| (v.referenced.line(), v))?,
                _ => return None,
            };
            line = at;
            node = &next.value;
        }
        (line > 0).then_some(line)
    }

    /// The file and the line of the node at `path`, for messages.
    pub fn origin(&self, path: &[Step<'_>]) -> Origin {
        Origin { file: self.file.clone(), line: self.line(path) }
    }
}

/// Where a value was written: a file, and its line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: Option<u64>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "`{}` line {line}", self.file),
            None => write!(f, "`{}`", self.file),
        }
    }
}

/// A YAML document as positions only: what [`Positions`] walks.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::Map(entries))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
        }

        d.deserialize_any(NodeVisitor)
    }
}

/// A YAML scalar given as a scheduler parameter, kept with its type so it
/// can be checked against the parameter's declaration.
#[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(String),
}

impl<'de> Deserialize<'de> for Scalar {
    /// By hand rather than `untagged`, whose error ("data did not match any
    /// variant") does not say what was wrong.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a parameter value: true or false, an integer, or a string (a template)")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => Scalar::Int(i),
                    Err(_) => Scalar::UInt(v),
                })
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
                Err(E::custom(format!("integer {v} is too large for any parameter type (64 bits at most)")))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
                Err(E::custom(format!("integer {v} is too large for any parameter type (64 bits at most)")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                // YAML reads integers beyond 64 bits as floats.
                if v.abs() >= 9.2e18 {
                    return Err(E::custom("integer too large for any parameter type (64 bits at most)"));
                }
                Err(E::custom(format!(
                    "`{v}` is not an integer; parameters are true or false, integers, or strings (templates)"
                )))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Err(E::custom("a parameter needs a value; remove the parameter to keep its default"))
            }

            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                self.visit_unit()
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
                Err(de::Error::custom(
                    "a parameter value is one scalar (true or false, an integer, or a string), not a list",
                ))
            }

            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
                Err(de::Error::custom(
                    "a parameter value is one scalar (true or false, an integer, or a string), not a mapping",
                ))
            }
        }

        d.deserialize_any(ScalarVisitor)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::UInt(u) => write!(f, "{u}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        a: BTreeMap<String, Scalar>,
    }

    #[test]
    fn scalars_keep_their_type() {
        let d: Doc = parse("t.yaml", b"a:\n  x: 5\n  y: true\n  z: hello\n  n: -3\n").unwrap();
        assert_eq!(d.a["x"], Scalar::Int(5));
        assert_eq!(d.a["y"], Scalar::Bool(true));
        assert_eq!(d.a["z"], Scalar::Str("hello".into()));
        assert_eq!(d.a["n"].to_string(), "-3");
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = parse::<Doc>("fleet.yaml", b"a:\n  x: 1\nb: 2\n").unwrap_err().to_string();
        assert!(err.contains("fleet.yaml") && err.contains('3'), "{err}");
        let err = parse::<Doc>("fleet.yaml", b"a:\n  x: 1\n  x: 2\n").unwrap_err().to_string();
        assert!(err.contains("fleet.yaml") && err.to_lowercase().contains("duplicate"), "{err}");
        let err = parse::<Doc>("f.yaml", b"a:\n  x: \xff\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
        let err = parse::<Doc>("f.yaml", b"  \n").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        let err = parse::<Doc>("f.yaml", b"# a: {}\n---\n").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn errors_are_worded_for_users() {
        let err = parse::<Doc>("fleet.yaml", b"a:\n  x: 1\n  x: 2\n").unwrap_err().to_string();
        assert!(!err.contains("DuplicateKeyPolicy") && err.contains("fleet.yaml:3"), "{err}");
        for (bad, says) in
            [("[1]", "not a list"), ("{b: 1}", "not a mapping"), ("1.5", "not an integer"), ("~", "needs a value")]
        {
            let err = parse::<Doc>("f.yaml", format!("a:\n  x: {bad}\n").as_bytes()).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains(says), "{bad}: {err}");
        }
        let err = parse::<Doc>("f.yaml", b"a:\n  x: 99999999999999999999999\n").unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn positions_find_lines_of_keys_and_items() {
        let text = b"# head\na:\n  x: 1\n  y:\n    - 1\n    - { z: 2 }\n";
        let at = Positions::new("f.yaml", text);
        assert_eq!(at.line(&[Step::Key("a")]), Some(2));
        assert_eq!(at.line(&[Step::Key("a"), Step::Key("x")]), Some(3));
        assert_eq!(at.line(&[Step::Key("a"), Step::Key("y"), Step::Index(1), Step::Key("z")]), Some(6));
        assert_eq!(at.line(&[Step::Key("a"), Step::Key("nope")]), None);
        assert_eq!(at.line(&[Step::Key("a"), Step::Index(0)]), None);
        assert_eq!(at.origin(&[Step::Key("a"), Step::Key("x")]).to_string(), "`f.yaml` line 3");
        assert_eq!(Positions::new("g.yaml", b"a: [").origin(&[Step::Key("a")]).to_string(), "`g.yaml`");
    }
}
