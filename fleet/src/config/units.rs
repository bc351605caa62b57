//! Durations and wave sizes as people write them in YAML, parsed strictly:
//! `30s`, `5m`, `1h30m`, `250ms` (no bare numbers, whose unit would be a
//! guess), and `3` or `"10%"` for counts and shares of hosts.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written with units, such as `90s` or `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(text: &str) -> Result<Span, String> {
        let bad =
            |why: &str| format!("`{text}` is not a duration ({why}); write it like `30s`, `5m`, `1h30m` or `250ms`");
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        let mut last_unit_rank = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (rank, unit) = match &rest[..unit_len] {
                "h" => (3, Duration::from_secs(3600)),
                "m" => (2, Duration::from_secs(60)),
                "s" => (1, Duration::from_secs(1)),
                "ms" => (0, Duration::from_millis(1)),
                "" => {
                    return Err(bad(match rest.chars().next() {
                        None => "a number needs a unit",
                        Some('.' | ',') => "no fractions; use a smaller unit, as in `1500ms`",
                        Some(c) if c.is_whitespace() => "no spaces between a number and its unit",
                        Some(_) => "a number must be followed by a unit: `h`, `m`, `s` or `ms`",
                    }))
                }
                other => return Err(bad(&format!("unknown unit `{other}`"))),
            };
            if rank >= last_unit_rank {
                return Err(bad("units must go from larger to smaller, each once"));
            }
            last_unit_rank = rank;
            let part = unit
                .checked_mul(u32::try_from(n).map_err(|_| bad("number too large"))?)
                .ok_or_else(|| bad("too long"))?;
            total = total.checked_add(part).ok_or_else(|| bad("too long"))?;
            rest = &rest[unit_len..];
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 || out.is_empty() {
            out.push_str(&format!("{s}s"));
        }
        f.write_str(&out)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
            "description": "A duration with units, largest first: `30s`, `5m`, `1h30m`, `250ms`.",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

/// A number of hosts, absolute (`3`) or a share of the fleet (`"10%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    Count(u32),
    /// Whole percent, 0 to 100.
    Percent(u8),
}

impl HostCount {
    /// The number of hosts out of `total`, percentages rounded up.
    pub fn of(self, total: usize) -> usize {
        match self {
            HostCount::Count(n) => n as usize,
            HostCount::Percent(p) => (total * usize::from(p)).div_ceil(100),
        }
    }

    pub fn parse_percent(text: &str) -> Result<HostCount, String> {
        let bad = || format!("`{text}` is neither a host count nor a percentage like `10%`");
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`\"{text}\"` is a quoted number; write `{text}` for a number of hosts or `\"{text}%\"` for a share"
            ));
        }
        let digits = text.strip_suffix('%').ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match digits.parse::<u8>() {
            Ok(p) if p <= 100 => Ok(HostCount::Percent(p)),
            _ => Err(format!("`{text}` is more than 100%")),
        }
    }
}

impl fmt::Display for HostCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCount::Count(n) => write!(f, "{n}"),
            HostCount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> Deserialize<'de> for HostCount {
    /// By hand rather than `untagged`, whose error ("data did not match any
    /// variant") does not say what was wrong.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl serde::de::Visitor<'_> for CountVisitor {
            type Value = HostCount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of hosts (`3`) or a percentage (`\"10%\"`)")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<HostCount, E> {
                u32::try_from(n).map(HostCount::Count).map_err(|_| {
                    E::custom(format!("`{n}` hosts is more than any fleet; use a percentage like `\"100%\"`"))
                })
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<HostCount, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("`{n}` is negative; a number of hosts is 0 or more"))),
                }
            }

            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<HostCount, E> {
                Err(E::custom(format!(
                    "`{n}` is not a whole number of hosts; write `3` or a percentage like `\"10%\"`"
                )))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<HostCount, E> {
                HostCount::parse_percent(text).map_err(E::custom)
            }
        }

        d.deserialize_any(CountVisitor)
    }
}

impl schemars::JsonSchema for HostCount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostCount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of hosts (`3`) or a share of the selected hosts (`\"10%\"`, rounded up).",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^(100|[1-9]?[0-9])%$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_strictly() {
        assert_eq!(Span::parse("30s").unwrap().0, Duration::from_secs(30));
        assert_eq!(Span::parse("1h30m").unwrap().0, Duration::from_secs(5400));
        assert_eq!(Span::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(Span::parse("2m5s").unwrap().0, Duration::from_secs(125));
        for bad in ["", "30", "s", "-5s", "1.5s", "5 s", "5sec", "5s5s", "5s1m", "99999999999h"] {
            assert!(Span::parse(bad).is_err(), "accepted `{bad}`");
        }
        assert!(Span::parse("1.5s").unwrap_err().contains("no fractions"));
        assert!(Span::parse("5 s").unwrap_err().contains("no spaces"));
        assert!(Span::parse("30").unwrap_err().contains("needs a unit"));
        assert_eq!(Span::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(Span::parse("250ms").unwrap().to_string(), "250ms");
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(HostCount::parse_percent("10%").unwrap(), HostCount::Percent(10));
        for bad in ["10", "%", "101%", "-1%", "1.5%", "10 %"] {
            assert!(HostCount::parse_percent(bad).is_err(), "accepted `{bad}`");
        }
        assert!(HostCount::parse_percent("10").unwrap_err().contains("quoted number"));
        #[derive(Debug, Deserialize)]
        struct Waves {
            #[allow(dead_code)]
            waves: Vec<HostCount>,
        }
        for (bad, says) in [("[-1]", "negative"), ("[1.5]", "whole number"), ("[\"101%\"]", "more than 100%")] {
            let err = serde_saphyr::from_str::<Waves>(&format!("waves: {bad}\n")).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(HostCount::Percent(10).of(40), 4);
        assert_eq!(HostCount::Percent(10).of(41), 5, "rounded up");
        assert_eq!(HostCount::Percent(1).of(3), 1);
        assert_eq!(HostCount::Count(3).of(40), 3);
    }
}
