//! `kernels:` in `schedulers/<name>.yaml`: the kernel releases a scheduler
//! supports, checked against each host's release before anything changes
//! on it.
//!
//! ```yaml
//! kernels: ">=7.2, <7.4"     # every comparison must hold
//! ```
//!
//! A version is one to three numbers (`7`, `7.3`, `7.3.4`), and a shorter
//! one stands for every release it is a prefix of, as in Cargo's version
//! requirements: `=7.3` is any 7.3.x, `<=7.3` includes 7.3.4, `>7.3` starts
//! at 7.4, `>=7.3` at 7.3.0, `<7.3` ends before 7.3.0. A comparison without
//! an operator is `=`. A host's release is read up to the first character
//! that is neither a digit nor a dot (`7.2.6+deb13-cloud-amd64` is 7.2.6).

use std::fmt;

/// A checked `kernels:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelReq {
    comparisons: Vec<(Op, Partial)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One to three version numbers, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partial(Vec<u32>);

/// A release as three numbers (missing ones are 0).
type Version = [u64; 3];

impl Partial {
    /// The first release this version stands for.
    fn low(&self) -> Version {
        let mut v = [0; 3];
        for (slot, n) in v.iter_mut().zip(&self.0) {
            *slot = u64::from(*n);
        }
        v
    }

    /// The first release after every release this version stands for.
    fn high(&self) -> Version {
        let mut v = self.low();
        v[self.0.len() - 1] += 1;
        v
    }
}

impl KernelReq {
    /// Parses a `kernels:` value; the error says what is wrong, for a
    /// message that also names the file and line.
    pub fn parse(text: &str) -> Result<KernelReq, String> {
        let mut comparisons = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "`kernels: {}` has an empty comparison; write comparisons like `>=7.2` separated by commas",
                    text.escape_debug()
                ));
            }
            let (op, rest) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt), ("=", Op::Eq)]
                .into_iter()
                .find_map(|(sym, op)| part.strip_prefix(sym).map(|rest| (op, rest)))
                .unwrap_or((Op::Eq, part));
            let version = parse_partial(rest.trim()).ok_or_else(|| {
                format!(
                    "`kernels:` comparison `{}` is not an operator (>=, >, <=, <, =) and a version of one to \
                     three numbers such as `7.2` or `7.2.6`",
                    part.escape_debug()
                )
            })?;
            comparisons.push((op, version));
        }
        let req = KernelReq { comparisons };
        if !req.satisfiable() {
            return Err(format!("`kernels: {}` allows no release; fix the bounds", text.escape_debug()));
        }
        Ok(req)
    }

    /// Whether the kernel `release` (as `uname -r` prints it) is allowed;
    /// `Err` when the release has no version to compare.
    pub fn allows(&self, release: &str) -> Result<bool, String> {
        let version = release_version(release)
            .ok_or_else(|| format!("kernel release `{}` starts with no version number", release.escape_debug()))?;
        Ok(self.allows_version(version))
    }

    fn allows_version(&self, v: Version) -> bool {
        self.comparisons.iter().all(|(op, p)| match op {
            Op::Eq => p.low() <= v && v < p.high(),
            Op::Lt => v < p.low(),
            Op::Le => v < p.high(),
            Op::Gt => v >= p.high(),
            Op::Ge => v >= p.low(),
        })
    }

    /// Some release passes every comparison: the largest lower bound is
    /// allowed by all the upper ones.
    fn satisfiable(&self) -> bool {
        let lowest = self
            .comparisons
            .iter()
            .filter_map(|(op, p)| match op {
                Op::Eq | Op::Ge => Some(p.low()),
                Op::Gt => Some(p.high()),
                Op::Lt | Op::Le => None,
            })
            .max()
            .unwrap_or([0; 3]);
        self.allows_version(lowest)
    }
}

impl fmt::Display for KernelReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (op, p)) in self.comparisons.iter().enumerate() {
            let sym = match op {
                Op::Eq => "=",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            };
            let numbers: Vec<String> = p.0.iter().map(u32::to_string).collect();
            write!(f, "{}{sym}{}", if i == 0 { "" } else { ", " }, numbers.join("."))?;
        }
        Ok(())
    }
}

fn parse_partial(text: &str) -> Option<Partial> {
    let numbers: Vec<u32> = text
        .split('.')
        .map(|n| if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { n.parse().ok() } else { None })
        .collect::<Option<_>>()?;
    (1..=3).contains(&numbers.len()).then_some(Partial(numbers))
}

/// `7.2.6+deb13-cloud-amd64` -> [7, 2, 6]; `6.1-rc3` -> [6, 1, 0]; `None`
/// without a leading number.
fn release_version(release: &str) -> Option<Version> {
    let end = release.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(release.len());
    let mut v = [0; 3];
    let mut parts = release[..end].split('.');
    for slot in v.iter_mut() {
        match parts.next() {
            Some(n) if !n.is_empty() => *slot = n.parse().ok()?,
            Some(_) => return None,
            None => break,
        }
    }
    (release.as_bytes().first().is_some_and(u8::is_ascii_digit)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(req: &str, release: &str) -> bool {
        KernelReq::parse(req).unwrap().allows(release).unwrap()
    }

    #[test]
    fn releases_are_read_up_to_their_suffix() {
        assert_eq!(release_version("7.2.6+deb13-cloud-amd64"), Some([7, 2, 6]));
        assert_eq!(release_version("6.12.0-1-amd64"), Some([6, 12, 0]));
        assert_eq!(release_version("6.1-rc3"), Some([6, 1, 0]));
        assert_eq!(release_version("7"), Some([7, 0, 0]));
        assert_eq!(release_version("unknown"), None);
        assert_eq!(release_version(""), None);
        assert_eq!(release_version("7..1"), None);
    }

    #[test]
    fn short_versions_stand_for_every_release_they_prefix() {
        let (old, new) = ("7.2.6+deb13-cloud-amd64", "7.3.4+deb13-cloud-amd64");
        assert!(!allows(">=7.3", old) && allows(">=7.3", new));
        assert!(allows("<=7.2", old) && !allows("<=7.2", new));
        assert!(allows("<7.3", old) && !allows("<7.3", new));
        assert!(!allows(">7.2", old) && allows(">7.2", new));
        assert!(allows("=7.2", old) && !allows("=7.2", new));
        assert!(allows("7.2", old), "no operator is `=`");
        assert!(allows("7", old) && allows("7", new) && !allows("7", "6.12.0"));
        assert!(allows(">=7.2.6, <7.4", old) && allows(">=7.2.6, <7.4", new));
        assert!(!allows(">=7.2.7", old));
        assert!(allows(">7.2.5", old) && !allows(">7.2.6", old));
        assert!(!allows("<7.4", "7.4.0") && allows("<=7.4", "7.4.2") && !allows("<7.4", "7.10.1"));
        assert!(allows(">= 7.2 ,< 8", "7.9.1"), "spaces around operators and commas");
    }

    #[test]
    fn bad_requirements_say_what_to_write() {
        for bad in ["", ">=", "~7.2", ">=7.x", "7.2.6.1", ">=7.2,", "=> 7.2", ">=-1"] {
            let err = KernelReq::parse(bad).unwrap_err();
            assert!(err.contains("`kernels:") || err.contains("comparison"), "{bad}: {err}");
        }
        let err = KernelReq::parse(">=7.4, <7.3").unwrap_err();
        assert_eq!(err, "`kernels: >=7.4, <7.3` allows no release; fix the bounds");
        assert!(KernelReq::parse(">7.3, <=7.3").is_err(), ">7.3 starts at 7.4");
        assert!(KernelReq::parse(">=7.3, <=7.3").is_ok());
    }

    #[test]
    fn a_release_without_a_version_is_an_error_not_a_pass() {
        let req = KernelReq::parse(">=7.2").unwrap();
        assert!(req.allows("unknown").unwrap_err().contains("`unknown` starts with no version number"));
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(KernelReq::parse(" >= 7.2 ,<7.4.1,7").unwrap().to_string(), ">=7.2, <7.4.1, =7");
    }
}
