//! `--probes JSON`: the list of `ProbeSpec`s, checked into [`Probe`]s
//! before anything runs. Every mistake (JSON that does not parse, a spec
//! with neither or both of `command` and `http`, an empty or repeated name,
//! a timeout out of range, a URL the agent cannot fetch) is refused as a
//! whole, so the caller gets a usage error rather than a report with a
//! failed probe it did not mean to ask for.

use std::collections::BTreeSet;
use std::time::Duration;

use schedfleet_proto::probe::ProbeCheck;
use schedfleet_proto::ProbeSpec;

/// One checked probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub name: String,
    pub timeout: Duration,
    pub check: Check,
}

/// What a probe does: checked by `proto`, the same checks `validate` runs.
pub type Check = ProbeCheck;

/// Parses and checks the JSON given to `--probes`.
pub fn parse(json: &str) -> Result<Vec<Probe>, String> {
    let specs: Vec<ProbeSpec> = serde_json::from_str(json).map_err(|e| {
        format!(
            "not a JSON list of probes such as \
             `[{{\"name\":\"api\",\"http\":\"http://127.0.0.1:8000/health\",\"timeout_ms\":2000}}]`: {e}"
        )
    })?;
    let mut names = BTreeSet::new();
    let mut probes = Vec::with_capacity(specs.len());
    for spec in specs {
        let checked = spec.check()?;
        if !names.insert(checked.name.clone()) {
            return Err(format!("probe name `{}` is given twice: names must be unique", checked.name));
        }
        probes.push(Probe { name: checked.name, timeout: checked.timeout, check: checked.check });
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_both_kinds_is_checked_in_order() {
        let probes = parse(
            r#"[{"name":"db","command":["/usr/bin/pg_isready","-q"],"timeout_ms":1500},
                {"name":"api","http":"http://localhost:8000/health","timeout_ms":60000}]"#,
        )
        .unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].name, "db");
        assert_eq!(probes[0].timeout, Duration::from_millis(1500));
        assert_eq!(probes[0].check, Check::Command(vec!["/usr/bin/pg_isready".into(), "-q".into()]));
        let Check::Http(url) = &probes[1].check else { panic!("{probes:?}") };
        assert_eq!(url.addr.to_string(), "127.0.0.1:8000");
        assert_eq!(parse("[]").unwrap(), vec![]);
    }

    #[test]
    fn mistakes_are_refused_with_the_probe_named() {
        for (json, says) in [
            ("{bad", "not a JSON list of probes"),
            (r#"{"name":"a","command":["true"],"timeout_ms":5}"#, "not a JSON list"),
            (r#"[{"name":"a","command":["true"]}]"#, "timeout_ms"),
            (r#"[{"name":"a","timeout_ms":5}]"#, "probe `a` has neither `command` nor `http`"),
            (r#"[{"name":"a","command":["true"],"http":"http://127.0.0.1/","timeout_ms":5}]"#, "has both"),
            (r#"[{"name":"","command":["true"],"timeout_ms":5}]"#, "empty `name`"),
            (r#"[{"name":" ","command":["true"],"timeout_ms":5}]"#, "empty `name`"),
            (r#"[{"name":"a","command":["true"],"timeout_ms":0}]"#, "probe `a`: `timeout_ms` 0: expected 1 to 60000"),
            (r#"[{"name":"a","command":["true"],"timeout_ms":60001}]"#, "`timeout_ms` 60001"),
            (r#"[{"name":"a","command":["true"],"timeout_ms":-1}]"#, "not a JSON list"),
            (r#"[{"name":"a","command":[],"timeout_ms":5}]"#, "probe `a`: `command` is empty"),
            (r#"[{"name":"a","command":["", "x"],"timeout_ms":5}]"#, "`command` is empty"),
            (r#"[{"name":"a","command":["true","a\u0000b"],"timeout_ms":5}]"#, "NUL"),
            (
                r#"[{"name":"a","http":"https://127.0.0.1/","timeout_ms":5}]"#,
                "probe `a`: `https://127.0.0.1/`: https is not supported",
            ),
            (r#"[{"name":"a","http":"http://db.internal/","timeout_ms":5}]"#, "no DNS resolver"),
            (
                r#"[{"name":"a","command":["true"],"timeout_ms":5},{"name":"a","command":["false"],"timeout_ms":5}]"#,
                "probe name `a` is given twice",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn the_longest_timeout_is_a_minute() {
        let probes = parse(r#"[{"name":"a","command":["true"],"timeout_ms":60000}]"#).unwrap();
        assert_eq!(probes[0].timeout, Duration::from_secs(60));
    }
}
