//! YAML through serde-saphyr (maintained, rejects duplicate keys, reports
//! line and column), with errors that name the file.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::BadInput;

/// Files larger than this are refused before parsing: config is small, and
/// a huge file is a mistake or an attack.
pub const MAX_FILE_BYTES: usize = 4 << 20;

pub fn parse<T: DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T, BadInput> {
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
    if text.trim().is_empty() {
        return Err(BadInput::new(format!("`{file}` is empty")));
    }
    serde_saphyr::from_str(text).map_err(|e| BadInput::new(format!("failed to parse `{file}`: {e}")))
}

/// A YAML scalar given as a scheduler parameter, kept with its type so it
/// can be checked against the parameter's declaration.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    }
}
