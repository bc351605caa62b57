//! What a compiled sched_ext BPF object offers a loader, read from its ELF
//! sections and its BTF in pure Rust, without libbpf: the parameters (the
//! integer, boolean and enum variables of `.rodata`, typed by their BTF)
//! and the `struct sched_ext_ops` variables of its struct_ops sections.
//!
//! The agent finds the same through libbpf when it loads an object
//! (`agent/src/sched/object.rs`); the controller reads it here so that
//! `validate` refuses a parameter the object does not have, or a value its
//! type cannot hold, before any host is contacted. A test in the agent
//! compares the two readings on every object this crate ships. Nothing here
//! loads or verifies anything: it reads bytes, and every read is bounds
//! checked, so a hostile object gives an error, never a panic.

use std::collections::BTreeMap;

use crate::param::ListKind;

/// A variable of `.rodata` a loader can set (what the agent calls a
/// parameter): 1, 2, 4 or 8 bytes of an integer, a `bool` or an enum, or a
/// list parameter (a struct of `params.h`, [`crate::param`]) of any size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RodataParam {
    /// Bytes: 1, 2, 4 or 8.
    pub size: usize,
    /// A signed integer (two's complement).
    pub signed: bool,
    /// A C `bool`: the agent takes `true`/`false` (or `1`/`0`) only.
    pub boolean: bool,
    /// A list parameter, written as text; `size` is its struct's size.
    pub list: Option<ListKind>,
}

impl RodataParam {
    /// The values the variable holds, as the agent encodes them.
    pub fn range(&self) -> (i128, i128) {
        let bits = self.size as u32 * 8;
        if self.boolean {
            (0, 1)
        } else if self.signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        }
    }
}

/// What [`inspect`] finds in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The settable variables of `.rodata`, by name.
    pub params: BTreeMap<String, RodataParam>,
    /// Every variable of type `struct sched_ext_ops`, as `(section, name)`;
    /// the agent needs exactly one, in `.struct_ops.link`.
    pub sched_ext_ops: Vec<(String, String)>,
}

/// Why an object cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectError(pub String);

impl std::fmt::Display for ObjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ObjectError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ObjectError> {
    Err(ObjectError(msg.into()))
}

/// Reads integers of the object's byte order, bounds checked.
#[derive(Clone, Copy)]
struct Bytes<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl<'a> Bytes<'a> {
    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8], ObjectError> {
        at.checked_add(len)
            .and_then(|end| self.data.get(at..end))
            .ok_or_else(|| ObjectError(format!("truncated object: {len} bytes at offset {at} are past its end")))
    }

    fn u16(&self, at: usize) -> Result<u16, ObjectError> {
        let b: [u8; 2] = self.slice(at, 2)?.try_into().expect("two bytes");
        Ok(if self.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn u32(&self, at: usize) -> Result<u32, ObjectError> {
        let b: [u8; 4] = self.slice(at, 4)?.try_into().expect("four bytes");
        Ok(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn u64(&self, at: usize) -> Result<u64, ObjectError> {
        let b: [u8; 8] = self.slice(at, 8)?.try_into().expect("eight bytes");
        Ok(if self.big_endian { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) })
    }
}

fn usize_of(n: u64) -> Result<usize, ObjectError> {
    usize::try_from(n).or_else(|_| err("an offset does not fit in memory"))
}

/// The NUL-terminated string at `at` of a string table.
fn c_str(table: &[u8], at: usize) -> Result<&str, ObjectError> {
    let rest = table.get(at..).ok_or_else(|| ObjectError(format!("string offset {at} is past its table")))?;
    let end = rest.iter().position(|&b| b == 0).ok_or_else(|| ObjectError("unterminated string".into()))?;
    std::str::from_utf8(&rest[..end]).or_else(|_| err("a name is not UTF-8"))
}

/// The `.BTF` section of a 64-bit ELF object, and its byte order.
fn btf_section(elf: &[u8]) -> Result<(&[u8], bool), ObjectError> {
    if elf.len() < 64 || !elf.starts_with(b"\x7fELF") {
        return err("not an ELF file");
    }
    if elf[4] != 2 {
        return err("not a 64-bit ELF file (BPF objects are ELF64)");
    }
    let big_endian = match elf[5] {
        1 => false,
        2 => true,
        _ => return err("unknown ELF byte order"),
    };
    let b = Bytes { data: elf, big_endian };
    let shoff = usize_of(b.u64(0x28)?)?;
    let shentsize = usize::from(b.u16(0x3a)?);
    let shnum = usize::from(b.u16(0x3c)?);
    let shstrndx = usize::from(b.u16(0x3e)?);
    if shentsize < 64 {
        return err("ELF section headers are too small");
    }
    let header = |i: usize| -> Result<(u32, &[u8]), ObjectError> {
        let at = i
            .checked_mul(shentsize)
            .and_then(|rel| shoff.checked_add(rel))
            .filter(|at| at.checked_add(shentsize).is_some())
            .ok_or_else(|| ObjectError("ELF section headers lie past the end of memory".into()))?;
        let name = b.u32(at)?;
        let sh_type = b.u32(at + 4)?;
        let offset = usize_of(b.u64(at + 24)?)?;
        let size = usize_of(b.u64(at + 32)?)?;
        // SHT_NOBITS (.bss) occupies no bytes of the file.
        let data = if sh_type == 8 { &[][..] } else { b.slice(offset, size)? };
        Ok((name, data))
    };
    if shstrndx >= shnum {
        return err("the ELF section name table is missing");
    }
    let (_, names) = header(shstrndx)?;
    for i in 0..shnum {
        let (name, data) = header(i)?;
        if c_str(names, name as usize)? == ".BTF" {
            return Ok((data, big_endian));
        }
    }
    err("the object has no BTF; build it with `clang -g`")
}

const BTF_MAGIC: u16 = 0xeb9f;

/// One BTF type, as far as this module needs it.
#[derive(Debug, Clone)]
enum Type {
    /// `size` bytes, `encoding` bits: 1 signed, 2 char, 4 bool.
    Int {
        size: u32,
        encoding: u32,
    },
    Enum {
        size: u32,
    },
    /// Typedefs and modifiers (const, volatile, restrict, type tags): the
    /// type they refer to.
    Alias(u32),
    Struct,
    Var {
        name: String,
        ty: u32,
    },
    /// `(var type id, offset, size)` of each variable.
    DataSec {
        name: String,
        vars: Vec<(u32, u32, u32)>,
    },
    Other,
}

/// Every type of a BTF blob, by id (id 0, `void`, is `Other`), and each
/// type's name.
fn parse_btf(btf: &[u8], big_endian: bool) -> Result<(Vec<Type>, Vec<String>), ObjectError> {
    let b = Bytes { data: btf, big_endian };
    if b.u16(0)? != BTF_MAGIC {
        return err("the `.BTF` section has no BTF magic");
    }
    let hdr_len = b.u32(4)? as usize;
    let (type_off, type_len) = (b.u32(8)? as usize, b.u32(12)? as usize);
    let (str_off, str_len) = (b.u32(16)? as usize, b.u32(20)? as usize);
    let types = b.slice(hdr_len.saturating_add(type_off), type_len)?;
    let strings = b.slice(hdr_len.saturating_add(str_off), str_len)?;
    let t = Bytes { data: types, big_endian };
    let (mut out, mut names) = (vec![Type::Other], vec![String::new()]);
    let mut at = 0;
    while at < types.len() {
        let name = c_str(strings, t.u32(at)? as usize)?.to_owned();
        let info = t.u32(at + 4)?;
        let size_or_type = t.u32(at + 8)?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        at += 12;
        let (ty, extra) = match kind {
            1 => (Type::Int { size: size_or_type, encoding: t.u32(at)? >> 24 }, 4),
            2 => (Type::Other, 0),          // pointer
            3 => (Type::Other, 12),         // array
            4 => (Type::Struct, vlen * 12), // struct
            5 => (Type::Other, vlen * 12),  // union
            6 => (Type::Enum { size: size_or_type }, vlen * 8),
            7 => (Type::Other, 0),                         // forward declaration
            8..=11 | 18 => (Type::Alias(size_or_type), 0), // typedef, volatile, const, restrict, type tag
            12 => (Type::Other, 0),                        // function
            13 => (Type::Other, vlen * 8),                 // function prototype
            14 => (Type::Var { name: name.clone(), ty: size_or_type }, 4),
            15 => {
                let mut vars = Vec::with_capacity(vlen.min(types.len() / 12));
                for i in 0..vlen {
                    let v = at + i * 12;
                    vars.push((t.u32(v)?, t.u32(v + 4)?, t.u32(v + 8)?));
                }
                (Type::DataSec { name: name.clone(), vars }, vlen * 12)
            }
            16 => (Type::Other, 0), // float
            17 => (Type::Other, 4), // declaration tag
            19 => (Type::Enum { size: size_or_type }, vlen * 12),
            other => return err(format!("unknown BTF kind {other}")),
        };
        t.slice(at, extra)?;
        at += extra;
        out.push(ty);
        names.push(name);
    }
    Ok((out, names))
}

/// Follows typedefs and modifiers to the type they name; `None` for a loop
/// or a dangling id.
fn resolve(types: &[Type], mut id: u32) -> Option<u32> {
    for _ in 0..64 {
        match types.get(id as usize)? {
            Type::Alias(next) => id = *next,
            _ => return Some(id),
        }
    }
    None
}

/// Reads an object's parameters and sched_ext ops from its BTF.
pub fn inspect(elf: &[u8]) -> Result<ObjectInfo, ObjectError> {
    let (btf, big_endian) = btf_section(elf)?;
    let (types, names) = parse_btf(btf, big_endian)?;
    let mut info = ObjectInfo { params: BTreeMap::new(), sched_ext_ops: Vec::new() };
    for ty in &types {
        let Type::DataSec { name: section, vars } = ty else { continue };
        for &(var_id, _offset, size) in vars {
            let Some(Type::Var { name, ty }) = types.get(var_id as usize) else { continue };
            let Some(target) = resolve(&types, *ty) else { continue };
            match (section.as_str(), &types[target as usize]) {
                (".rodata", Type::Int { size: int_size, encoding }) => {
                    let size = if size == 0 { *int_size } else { size };
                    if matches!(size, 1 | 2 | 4 | 8) {
                        let param = RodataParam {
                            size: size as usize,
                            signed: encoding & 1 != 0,
                            boolean: encoding & 4 != 0,
                            list: None,
                        };
                        info.params.insert(name.clone(), param);
                    }
                }
                (".rodata", Type::Enum { size: enum_size }) => {
                    let size = if size == 0 { *enum_size } else { size };
                    if matches!(size, 1 | 2 | 4 | 8) {
                        info.params.insert(
                            name.clone(),
                            RodataParam { size: size as usize, signed: false, boolean: false, list: None },
                        );
                    }
                }
                (".rodata", Type::Struct) => {
                    if let Some(kind) = ListKind::from_struct_name(&names[target as usize]) {
                        info.params.insert(
                            name.clone(),
                            RodataParam { size: size as usize, signed: false, boolean: false, list: Some(kind) },
                        );
                    }
                }
                (".struct_ops" | ".struct_ops.link", Type::Struct) if names[target as usize] == "sched_ext_ops" => {
                    info.sched_ext_ops.push((section.clone(), name.clone()));
                }
                _ => {}
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_schedulers_offer_their_documented_params() {
        for builtin in crate::builtins() {
            let info = inspect(builtin.object).unwrap();
            for p in builtin.params {
                let found = info.params.get(p.name).unwrap_or_else(|| panic!("{} not in {info:?}", p.name));
                assert_eq!(found.size, p.kind.width(), "{}", p.name);
                assert_eq!(found.boolean, p.kind == crate::ParamKind::Bool, "{}", p.name);
                let list = match p.kind {
                    crate::ParamKind::List(kind) => Some(kind),
                    _ => None,
                };
                assert_eq!(found.list, list, "{}", p.name);
            }
            assert_eq!(info.params.len(), builtin.params.len(), "{}: every parameter is documented", builtin.name);
            let ops = format!("{}_ops", builtin.name);
            assert_eq!(info.sched_ext_ops, vec![(".struct_ops.link".to_owned(), ops)]);
        }
    }

    #[test]
    fn list_params_are_recognised_by_their_struct() {
        let info = inspect(crate::builtin("serve").unwrap().object).unwrap();
        assert_eq!(info.params["serving_cpus"].list, Some(ListKind::CpuMask));
        assert_eq!(info.params["serving_cpus"].size, 128);
        assert_eq!(info.params["serving_cgroups"].list, Some(ListKind::CgroupIds));
        assert_eq!(info.params["serving_comms"].list, Some(ListKind::CommPrefixes));
        assert_eq!(info.params["batch_slice_ns"].list, None);
    }

    #[test]
    fn the_ejector_has_its_delay() {
        let info = inspect(crate::testing::EJECTOR).unwrap();
        assert_eq!(info.params["eject_after_ns"], RodataParam { size: 8, signed: false, boolean: false, list: None });
    }

    #[test]
    fn ranges_follow_the_type() {
        let p = |size, signed, boolean| RodataParam { size, signed, boolean, list: None }.range();
        assert_eq!(p(1, false, false), (0, 255));
        assert_eq!(p(4, true, false), (-(1 << 31), (1 << 31) - 1));
        assert_eq!(p(8, false, false), (0, u64::MAX as i128));
        assert_eq!(p(1, false, true), (0, 1));
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(inspect(b"").is_err());
        assert!(inspect(b"\x7fELF").is_err());
        let object = crate::builtin("simple").unwrap().object;
        for len in [64, 200, object.len() / 2, object.len() - 1] {
            let _ = inspect(&object[..len]);
        }
        let mut flipped = object.to_vec();
        for i in (0..flipped.len()).step_by(97) {
            flipped[i] ^= 0xff;
            let _ = inspect(&flipped);
        }
    }
}
