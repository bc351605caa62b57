//! `schedulers/<name>.yaml`: one scheduler, where its BPF object or upstream
//! binary comes from and which parameters it takes.
//!
//! ```yaml
//! source: builtin:simple            # built from this project's bpf/
//! # source: object:bpf/my_sched.bpf.o   # a BPF object committed in the repo
//! # source: scx:scx_bpfland         # an upstream scx binary: see `binary.rs`
//! params:
//!   slice_ns: { type: u64, default: 5000000, min: 100000, max: 100000000 }
//!   # list parameters, written as text (bpf/include/schedfleet/params.h):
//!   # serving_cpus: { type: cpu_list }        "0-3,8"
//!   # serving_cgroups: { type: cgroup_paths } "/serving,system.slice/vllm.service"
//!   # serving_comms: { type: comm_prefixes }  "python,tokenize"
//! kernels: ">=7.2"                  # optional: the kernel releases it supports
//! ```

pub mod binary;
pub mod flags;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use anyhow::Context;

use schedfleet_bpf::param::ListKind;

use super::yaml::{Origin, Scalar};
use crate::artifact::Artifact;
use crate::repo::ConfigRepo;
use crate::BadInput;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulerFile {
    /// `builtin:NAME` (built from this project's bpf/), `object:PATH` (a BPF
    /// object committed in the config repository) or `scx:BINARY` (an
    /// upstream sched-ext/scx scheduler binary such as `scx:scx_bpfland`,
    /// described by `binary:`).
    pub source: String,
    /// The parameters assignments may set: `const volatile` globals of the
    /// object; for a binary, values its `args` templates use as `params.NAME`.
    #[serde(default)]
    pub params: BTreeMap<String, ParamDecl>,
    /// With `source: scx:BINARY` (and only then): where the binary comes
    /// from, its arguments, environment, start timeout and restart policy.
    pub binary: Option<binary::BinaryDecl>,
    /// The kernel releases the scheduler supports, as comparisons that must all
    /// hold: `">=7.2"`, `">=7.2, <7.4"`, `"=7.3"` (any 7.3.x). A shorter version
    /// stands for every release it prefixes (`<=7.3` includes 7.3.4, `>7.3`
    /// starts at 7.4). `plan` marks hosts running another kernel invalid, with
    /// the reason, and `apply` changes nothing on them. Without it, every
    /// kernel with sched_ext is tried.
    pub kernels: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Used when no assignment or override sets the parameter; without it the
    /// object's compiled-in value stays.
    pub default: Option<Scalar>,
    /// Smallest value allowed.
    pub min: Option<i64>,
    /// Largest value allowed.
    pub max: Option<u64>,
    /// For people reading the file (and the JSON Schema); not used by the engine.
    #[allow(dead_code)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// A CPU list (`"0-3,8"`); the agent refuses CPUs the host does not have
    /// online. The object's variable is a `struct sf_cpumask`.
    CpuList,
    /// Comma-separated cgroup v2 paths (`"/serving"`); the agent resolves
    /// each to its cgroup id and refuses a path missing on the host. The
    /// object's variable is a `struct sf_cgroup_ids`.
    CgroupPaths,
    /// Comma-separated command-name prefixes (`"python,tokenize"`), 1 to 15
    /// bytes each. The object's variable is a `struct sf_comm_prefixes`.
    CommPrefixes,
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

/// Where a scheduler's BPF object comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Built from this project's `bpf/` and shipped inside `schedfleet`.
    Builtin(String),
    /// A `.bpf.o` committed in the config repository (path relative to it).
    Object(String),
    /// An upstream scx binary (`scx_bpfland` ...), described by the file's
    /// `binary:` section.
    ScxBinary(String),
}

impl Source {
    /// `at` is where `source:` is written, for messages.
    pub fn parse(at: &Origin, text: &str) -> Result<Source, BadInput> {
        if let Some((kind @ ("builtin" | "object" | "scx"), "")) = text.split_once(':') {
            let what = match kind {
                "object" => "PATH",
                "scx" => "BINARY",
                _ => "NAME",
            };
            return Err(BadInput::new(format!("{at}: source `{kind}:` names nothing; write `{kind}:{what}`")));
        }
        match text.split_once(':') {
            Some(("builtin", name)) => Ok(Source::Builtin(name.to_owned())),
            Some(("object", path)) => Ok(Source::Object(path.to_owned())),
            Some(("scx", bin)) => Ok(Source::ScxBinary(bin.to_owned())),
            _ => Err(BadInput::new(format!(
                "{at}: source `{}` must be `builtin:NAME`, `object:PATH` or `scx:BINARY`",
                text.escape_debug()
            ))),
        }
    }

    /// The BPF object's bytes, named for messages.
    pub fn artifact(&self, at: &Origin, repo: &ConfigRepo) -> anyhow::Result<Artifact> {
        match self {
            Source::Builtin(name) => {
                let b = schedfleet_bpf::builtin(name).ok_or_else(|| {
                    let known: Vec<_> = schedfleet_bpf::builtins().iter().map(|b| b.name).collect();
                    BadInput::new(format!(
                        "{at}: no builtin scheduler `{}`; builtins are: {}",
                        name.escape_debug(),
                        known.join(", ")
                    ))
                })?;
                Ok(Artifact::new(format!("builtin:{name}"), b.object))
            }
            Source::Object(path) => {
                // The path's own problems (`..`, absolute, a symlink) are
                // found by the repository; say which file wrote it.
                let bytes = repo
                    .read(path)
                    .with_context(|| format!("{at}: object `{}`", path.escape_debug()))?
                    .ok_or_else(|| {
                        BadInput::new(format!("{at}: object `{path}` is not in the commit; commit it or fix the path"))
                    })?;
                if !is_bpf_object(&bytes) {
                    return Err(BadInput::new(format!(
                        "{at}: object `{path}` is not a BPF object (an ELF file for machine BPF); \
                         commit the `.bpf.o` that clang builds"
                    ))
                    .into());
                }
                Ok(Artifact::new(format!("object:{path}"), bytes))
            }
            Source::ScxBinary(bin) => Err(BadInput::new(format!(
                "{at}: `scx:{bin}` needs a `binary:` section that says where the binary comes from \
                 (`file:`, `controller:` or `installed:`)"
            ))
            .into()),
        }
    }
}

/// An ELF file whose machine is BPF (`EM_BPF`, 247), in either byte order.
fn is_bpf_object(bytes: &[u8]) -> bool {
    const EM_BPF: u16 = 247;
    if bytes.len() < 20 || !bytes.starts_with(b"\x7fELF") {
        return false;
    }
    let machine = [bytes[18], bytes[19]];
    match bytes[5] {
        1 => u16::from_le_bytes(machine) == EM_BPF,
        2 => u16::from_be_bytes(machine) == EM_BPF,
        _ => false,
    }
}

impl SchedulerFile {
    /// Checks the declarations against what the object really offers (read
    /// from its BTF, as the agent does), so that `validate` refuses every
    /// parameter the agent would: a name the object has no `.rodata`
    /// variable for, a type whose values the variable cannot hold. Also
    /// refuses an object the agent cannot attach (no `struct sched_ext_ops`,
    /// several, or one outside `.struct_ops.link`). The error names the
    /// parameter it is about, when it is about one.
    pub fn check_object(&self, object: &str, bytes: &[u8]) -> Result<(), (Option<&str>, String)> {
        let info = schedfleet_bpf::object::inspect(bytes)
            .map_err(|e| (None, format!("object `{object}`: cannot read its BTF: {e}")))?;
        match info.sched_ext_ops.as_slice() {
            [(section, _)] if section == ".struct_ops.link" => {}
            [(_, var)] => {
                return Err((
                    None,
                    format!(
                        "object `{object}`: `{var}` is in SEC(\".struct_ops\"); the agent needs \
                         SEC(\".struct_ops.link\") so the scheduler can be pinned and outlive the loader"
                    ),
                ))
            }
            [] => {
                return Err((
                    None,
                    format!("object `{object}` declares no `struct sched_ext_ops`: it is not a sched_ext scheduler"),
                ))
            }
            many => {
                let names: Vec<_> = many.iter().map(|(_, v)| v.as_str()).collect();
                return Err((
                    None,
                    format!(
                        "object `{object}` declares {} sched_ext_ops ({}); exactly one is supported",
                        many.len(),
                        names.join(", ")
                    ),
                ));
            }
        }
        for (name, decl) in &self.params {
            let Some(var) = info.params.get(name) else {
                let known: Vec<_> = info.params.keys().map(String::as_str).collect();
                return Err((
                    Some(name),
                    format!(
                        "parameter `{name}` is not a variable of object `{object}` (its `const volatile` \
                         integer and bool globals in `.rodata`, read from its BTF), so the agent would refuse it; \
                         the object has: {}",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                ));
            };
            if decl.kind.list().is_some() || var.list.is_some() {
                if decl.kind.list() == var.list {
                    continue;
                }
                let what = match var.list {
                    Some(kind) => format!("a `{}` (declare it `type: {kind}`)", kind.struct_name()),
                    None => "an integer or bool".to_owned(),
                };
                return Err((
                    Some(name),
                    format!(
                        "parameter `{name}` is declared `{}`, but in object `{object}` it is {what}; \
                         the agent would refuse it",
                        decl.kind.as_str()
                    ),
                ));
            }
            let (lo, hi) = var.range();
            let what = if var.boolean {
                "a bool".to_owned()
            } else {
                format!("{} {}-bit integer", if var.signed { "a signed" } else { "an unsigned" }, var.size * 8)
            };
            let fits = match decl.range() {
                None => var.boolean,
                Some((dlo, dhi)) => dlo >= lo && dhi <= hi,
            };
            if !fits {
                return Err((
                    Some(name),
                    format!(
                        "parameter `{name}` is declared `{}`{}, but in object `{object}` it is {what} ({}): \
                         the agent would refuse values it cannot hold; declare a type (or `min`/`max`) that fits",
                        decl.kind.as_str(),
                        decl.range().map(|(a, b)| format!(" ({a}..={b})")).unwrap_or_default(),
                        if var.boolean { "true or false".to_owned() } else { format!("{lo}..={hi}") },
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl ParamDecl {
    /// The typed value of a template's output: templates render to text,
    /// which is read back as the declared type (`"4000"` as an integer).
    pub fn typed(&self, rendered: &str) -> Scalar {
        let t = rendered.trim();
        match self.kind {
            ParamType::CpuList | ParamType::CgroupPaths | ParamType::CommPrefixes => Scalar::Str(t.to_owned()),
            ParamType::Bool => match t {
                "true" | "True" => Scalar::Bool(true),
                "false" | "False" => Scalar::Bool(false),
                _ => Scalar::Str(rendered.to_owned()),
            },
            _ => t
                .parse::<i64>()
                .map(Scalar::Int)
                .or_else(|_| t.parse::<u64>().map(Scalar::UInt))
                .unwrap_or_else(|_| Scalar::Str(rendered.to_owned())),
        }
    }

    /// What a value must be, in words, without any value: for errors about
    /// a value that is not shown.
    pub fn expected(&self) -> String {
        if let Some(kind) = self.kind.list() {
            return kind.expected().to_owned();
        }
        match self.range() {
            None => "true or false".to_owned(),
            Some((lo, hi)) => format!("an integer of type `{}` within {lo}..={hi}", self.kind.as_str()),
        }
    }

    /// The values allowed: the type's range narrowed by `min` and `max`;
    /// `None` for bool.
    fn range(&self) -> Option<(i128, i128)> {
        let (lo, hi): (i128, i128) = match self.kind {
            ParamType::Bool | ParamType::CpuList | ParamType::CgroupPaths | ParamType::CommPrefixes => return None,
            ParamType::U8 => (0, u8::MAX.into()),
            ParamType::U16 => (0, u16::MAX.into()),
            ParamType::U32 => (0, u32::MAX.into()),
            ParamType::U64 => (0, u64::MAX.into()),
            ParamType::I8 => (i8::MIN.into(), i8::MAX.into()),
            ParamType::I16 => (i16::MIN.into(), i16::MAX.into()),
            ParamType::I32 => (i32::MIN.into(), i32::MAX.into()),
            ParamType::I64 => (i64::MIN.into(), i64::MAX.into()),
        };
        Some((self.min.map_or(lo, |m| lo.max(m.into())), self.max.map_or(hi, |m| hi.min(m.into()))))
    }

    /// Narrows `min` and `max` to `lo..=hi` (what a builtin accepts).
    pub fn narrow(&mut self, lo: u64, hi: u64) {
        let lo = i64::try_from(lo).unwrap_or(i64::MAX);
        self.min = Some(self.min.map_or(lo, |m| m.max(lo)));
        self.max = Some(self.max.map_or(hi, |m| m.min(hi)));
    }

    /// Checks that `min` and `max` leave some value of the type allowed.
    pub fn check_bounds(&self, name: &str) -> Result<(), String> {
        match self.range() {
            None if self.min.is_some() || self.max.is_some() => Err(format!(
                "parameter `{name}` is a `{}`: `min` and `max` do not apply; remove them",
                self.kind.as_str()
            )),
            Some((lo, hi)) if lo > hi => Err(format!(
                "parameter `{name}`: `min` and `max` leave no value of type `{}` allowed ({lo} > {hi}); fix them",
                self.kind.as_str()
            )),
            _ => Ok(()),
        }
    }

    /// Checks `value` against the declaration and returns the string the
    /// agent is given.
    pub fn check(&self, name: &str, value: &Scalar) -> Result<String, String> {
        if let Some(kind) = self.kind.list() {
            // YAML reads `serving_cpus: 3` as a number; it is also a list.
            let text = match value {
                Scalar::Str(text) => text.clone(),
                Scalar::Int(_) | Scalar::UInt(_) => value.to_string(),
                Scalar::Bool(_) => {
                    return Err(format!("parameter `{name}` must be a string: {}, not `{value}`", kind.expected()))
                }
            };
            kind.check_syntax(&text).map_err(|why| {
                format!("parameter `{name}` = `{}`: {why}; expected {}", text.escape_debug(), kind.expected())
            })?;
            return Ok(text.trim().to_owned());
        }
        let Some((lo, hi)) = self.range() else {
            return match value {
                Scalar::Bool(b) => Ok(b.to_string()),
                Scalar::Str(s) => Err(format!("parameter `{name}` must be true or false, not the string `{s:?}`")),
                other => Err(format!("parameter `{name}` must be true or false, not `{other}`")),
            };
        };
        let v: i128 = match value {
            Scalar::Int(i) => (*i).into(),
            Scalar::UInt(u) => (*u).into(),
            Scalar::Str(s) => return Err(format!("parameter `{name}` must be an integer, not the string `{s:?}`")),
            Scalar::Bool(b) => return Err(format!("parameter `{name}` must be an integer, not `{b}`")),
        };
        if v < lo || v > hi {
            return Err(format!("parameter `{name}` = {v} is outside {lo}..={hi}"));
        }
        Ok(v.to_string())
    }
}

impl ParamType {
    /// The name as written in scheduler files.
    /// The list kind of a list type (`cpu_list`, `cgroup_paths`, `comm_prefixes`).
    pub fn list(self) -> Option<ListKind> {
        match self {
            ParamType::CpuList => Some(ListKind::CpuMask),
            ParamType::CgroupPaths => Some(ListKind::CgroupIds),
            ParamType::CommPrefixes => Some(ListKind::CommPrefixes),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::CpuList => "cpu_list",
            ParamType::CgroupPaths => "cgroup_paths",
            ParamType::CommPrefixes => "comm_prefixes",
            ParamType::Bool => "bool",
            ParamType::U8 => "u8",
            ParamType::U16 => "u16",
            ParamType::U32 => "u32",
            ParamType::U64 => "u64",
            ParamType::I8 => "i8",
            ParamType::I16 => "i16",
            ParamType::I32 => "i32",
            ParamType::I64 => "i64",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(kind: ParamType, min: Option<i64>, max: Option<u64>) -> ParamDecl {
        ParamDecl { kind, default: None, min, max, description: None }
    }

    #[test]
    fn params_are_checked_against_type_and_bounds() {
        let d = decl(ParamType::U64, Some(100), Some(1000));
        assert_eq!(d.check("s", &Scalar::Int(500)).unwrap(), "500");
        assert!(d.check("s", &Scalar::Int(99)).is_err());
        assert!(d.check("s", &Scalar::Int(1001)).is_err());
        assert!(d.check("s", &Scalar::Str("5".into())).is_err());
        assert!(decl(ParamType::U8, None, None).check("s", &Scalar::Int(256)).is_err());
        assert!(decl(ParamType::U8, None, None).check("s", &Scalar::Int(-1)).is_err());
        assert_eq!(decl(ParamType::Bool, None, None).check("b", &Scalar::Bool(true)).unwrap(), "true");
        assert!(decl(ParamType::Bool, None, None).check("b", &Scalar::Int(1)).is_err());
        assert!(d.check("s", &Scalar::Str("500".into())).unwrap_err().contains("the string `\"500\"`"));
    }

    #[test]
    fn list_params_are_strings_checked_for_syntax() {
        let cpus = decl(ParamType::CpuList, None, None);
        assert_eq!(cpus.check("c", &Scalar::Str(" 0-3,8 ".into())).unwrap(), "0-3,8");
        assert_eq!(cpus.check("c", &Scalar::Str("".into())).unwrap(), "");
        let err = cpus.check("c", &Scalar::Str("3-1".into())).unwrap_err();
        assert!(err.starts_with("parameter `c` = `3-1`: range `3-1` runs backwards"), "{err}");
        assert_eq!(cpus.check("c", &Scalar::Int(3)).unwrap(), "3");
        assert!(cpus.check("c", &Scalar::Bool(true)).unwrap_err().contains("must be a string"));
        assert_eq!(cpus.typed(" 4-7\n"), Scalar::Str("4-7".into()));
        let cgroups = decl(ParamType::CgroupPaths, None, None);
        assert!(cgroups.check("g", &Scalar::Str("/a/../b".into())).is_err());
        let comms = decl(ParamType::CommPrefixes, None, None);
        assert!(comms.check("n", &Scalar::Str("0123456789abcdef".into())).unwrap_err().contains("at most 15"));
        assert!(decl(ParamType::CpuList, Some(0), None).check_bounds("c").unwrap_err().contains("cpu_list"));
    }

    #[test]
    fn list_declarations_must_match_the_objects_struct() {
        let serve = schedfleet_bpf::builtin("serve").unwrap().object;
        let file = |params: &str| -> SchedulerFile {
            serde_saphyr::from_str(&format!("source: builtin:serve\nparams:\n{params}")).unwrap()
        };
        let ok = file("  serving_cpus: { type: cpu_list }\n  serving_cgroups: { type: cgroup_paths }\n  serving_comms: { type: comm_prefixes }\n  batch_slice_ns: { type: u64 }\n");
        assert!(ok.check_object("builtin:serve", serve).is_ok());
        let wrong = file("  serving_cpus: { type: u64 }\n");
        let (param, err) = wrong.check_object("builtin:serve", serve).unwrap_err();
        assert_eq!(param, Some("serving_cpus"));
        assert!(err.contains("a `sf_cpumask` (declare it `type: cpu_list`)"), "{err}");
        let wrong = file("  batch_slice_ns: { type: cpu_list }\n");
        let (_, err) = wrong.check_object("builtin:serve", serve).unwrap_err();
        assert!(err.contains("an integer or bool"), "{err}");
    }

    #[test]
    fn narrowing_keeps_the_tighter_bound() {
        let mut open = decl(ParamType::U64, None, None);
        open.narrow(100_000, 100_000_000);
        assert!(open.check("s", &Scalar::Int(50)).unwrap_err().contains("outside 100000..=100000000"));
        let mut tight = decl(ParamType::U64, Some(1_000_000), Some(10_000_000));
        tight.narrow(100_000, 100_000_000);
        assert_eq!((tight.min, tight.max), (Some(1_000_000), Some(10_000_000)));
    }

    #[test]
    fn bounds_that_allow_nothing_are_refused() {
        assert!(decl(ParamType::U64, Some(100), Some(1000)).check_bounds("s").is_ok());
        assert!(decl(ParamType::U64, Some(1000), Some(100)).check_bounds("s").is_err());
        assert!(decl(ParamType::U8, Some(300), None).check_bounds("s").is_err());
        assert!(decl(ParamType::Bool, Some(0), None).check_bounds("b").is_err());
    }

    #[test]
    fn only_bpf_objects_are_objects() {
        let simple = schedfleet_bpf::builtin("simple").unwrap().object;
        assert!(is_bpf_object(simple));
        assert!(!is_bpf_object(b""));
        assert!(!is_bpf_object(b"\x7fELF"));
        let mut x86 = simple.to_vec();
        x86[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert!(!is_bpf_object(&x86));
    }

    #[test]
    fn sources_parse() {
        let at = Origin { file: "f".into(), line: Some(1) };
        assert_eq!(Source::parse(&at, "builtin:simple").unwrap(), Source::Builtin("simple".into()));
        assert_eq!(Source::parse(&at, "object:x/y.bpf.o").unwrap(), Source::Object("x/y.bpf.o".into()));
        assert!(Source::parse(&at, "object:").unwrap_err().to_string().contains("names nothing"));
        let err = Source::parse(&at, "http://evil").unwrap_err().to_string();
        assert!(err.starts_with("`f` line 1: "), "{err}");
    }
}
