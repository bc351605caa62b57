//! Opening an arbitrary sched_ext BPF object and getting it ready to load.
//!
//! Nothing here is specific to schedfleet's own schedulers: the
//! `sched_ext_ops` struct_ops map is found through the object's BTF (the
//! variable of type `struct sched_ext_ops` in `.struct_ops.link`), its ops
//! name is read from the map's initial value, and parameters are the
//! object's `const volatile` globals in `.rodata`, typed by their BTF.
//! Everything that can be refused is refused here, before the kernel sees
//! anything.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::Instant;

use libbpf_rs::btf::types::{DataSec, Int, IntEncoding, MemberAttr, Struct, Var};
use libbpf_rs::btf::{BtfKind, ReferencesType};
use libbpf_rs::{AsRawLibbpf, Btf, Link, MapCore, ObjectBuilder, OpenObject};
use schedfleet_bpf::param::ListKind;
use schedfleet_proto::ErrorKind;

use super::libbpf_log;
use crate::error::{Failure, Result};

/// The variable of a parameter in `.rodata`.
#[derive(Debug, Clone, PartialEq)]
struct ParamSlot {
    offset: usize,
    size: usize,
    signed: bool,
    boolean: bool,
    /// A list parameter (a struct of `params.h`), encoded by `param`.
    list: Option<ListKind>,
}

/// An opened object whose struct_ops map and parameters are known and set.
pub struct Prepared {
    open: OpenObject,
    map_name: String,
    pub ops_name: String,
}

/// A loaded (verified) object, not yet attached.
pub struct Loaded {
    object: libbpf_rs::Object,
    map_name: String,
    pub ops_name: String,
    pub started: Instant,
}

fn bad_object(msg: impl Into<String>) -> Failure {
    Failure::new(ErrorKind::BadObject, msg)
}

pub fn prepare(bytes: &[u8], params: &BTreeMap<String, String>) -> Result<Prepared> {
    libbpf_log::take();
    let mut open = ObjectBuilder::default()
        .open_memory(bytes)
        .map_err(|e| bad_object(format!("not a loadable BPF object: {e}: {}", libbpf_log::take().trim())))?;
    let (map_name, ops_name_offset, slots) = {
        // SAFETY: the pointer comes from a live OpenObject that outlives `btf`.
        let btf = Btf::from_bpf_object(unsafe { open.as_libbpf_object().as_ref() })
            .map_err(|e| bad_object(format!("cannot read the object's BTF: {e}")))?
            .ok_or_else(|| bad_object("the object has no BTF; build it with `clang -g`"))?;
        let (map_name, offset) = find_sched_ext_ops(&btf)?;
        (map_name, offset, rodata_slots(&btf))
    };
    let ops_name = {
        let map = open
            .maps()
            .find(|m| m.name() == OsStr::new(&map_name))
            .ok_or_else(|| bad_object(format!("struct_ops map `{map_name}` is missing")))?;
        let value = map.initial_value().ok_or_else(|| bad_object("struct_ops map has no data"))?;
        let raw = value.get(ops_name_offset..).unwrap_or_default();
        let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
        String::from_utf8_lossy(name).into_owned()
    };
    if ops_name.is_empty() {
        return Err(bad_object("the scheduler's `sched_ext_ops.name` is empty; the kernel requires one"));
    }
    set_params(&mut open, &slots, params)?;
    Ok(Prepared { open, map_name, ops_name })
}

/// Finds the one `struct sched_ext_ops` variable in `.struct_ops.link` and
/// the byte offset of its `name` member.
fn find_sched_ext_ops(btf: &Btf<'_>) -> Result<(String, usize)> {
    let mut found = Vec::new();
    for section in [".struct_ops.link", ".struct_ops"] {
        let Some(sec) = btf.type_by_name::<DataSec<'_>>(section) else { continue };
        for info in sec.iter() {
            let Some(var) = btf.type_by_id::<Var<'_>>(info.ty) else { continue };
            let ty = var.referenced_type().skip_mods_and_typedefs();
            if ty.kind() == BtfKind::Struct && ty.name() == Some(OsStr::new("sched_ext_ops")) {
                let name = var.name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                found.push((section, name, ty.type_id()));
            }
        }
    }
    let (section, map_name, type_id) = match found.as_slice() {
        [one] => one.clone(),
        [] => return Err(bad_object("the object declares no `struct sched_ext_ops`: it is not a sched_ext scheduler")),
        many => {
            let names: Vec<_> = many.iter().map(|f| f.1.as_str()).collect();
            return Err(bad_object(format!(
                "the object declares {} sched_ext_ops ({}); exactly one is supported",
                many.len(),
                names.join(", ")
            )));
        }
    };
    if section != ".struct_ops.link" {
        return Err(bad_object(format!(
            "`{map_name}` is in SEC(\".struct_ops\"); schedfleet needs SEC(\".struct_ops.link\") so the scheduler can be pinned and outlive the loader"
        )));
    }
    let ops: Struct<'_> = btf.type_by_id(type_id).expect("type id came from this BTF");
    let name_member = ops
        .iter()
        .find(|m| m.name == Some(OsStr::new("name")))
        .ok_or_else(|| bad_object("`struct sched_ext_ops` has no `name` member"))?;
    let bits = match name_member.attr {
        MemberAttr::Normal { offset } => offset,
        MemberAttr::BitField { .. } => return Err(bad_object("`sched_ext_ops.name` is a bit field")),
    };
    Ok((map_name, bits as usize / 8))
}

/// The integer and boolean variables of `.rodata`, and its list
/// parameters (structs of `params.h`, known by their BTF name), by name.
fn rodata_slots(btf: &Btf<'_>) -> BTreeMap<String, ParamSlot> {
    let mut slots = BTreeMap::new();
    let Some(sec) = btf.type_by_name::<DataSec<'_>>(".rodata") else { return slots };
    for info in sec.iter() {
        let Some(var) = btf.type_by_id::<Var<'_>>(info.ty) else { continue };
        let Some(name) = var.name() else { continue };
        let ty = var.referenced_type().skip_mods_and_typedefs();
        if ty.kind() == BtfKind::Struct {
            let kind = ty.name().and_then(|n| ListKind::from_struct_name(&n.to_string_lossy()));
            if let Some(kind) = kind {
                slots.insert(
                    name.to_string_lossy().into_owned(),
                    ParamSlot {
                        offset: info.offset as usize,
                        size: info.size,
                        signed: false,
                        boolean: false,
                        list: Some(kind),
                    },
                );
            }
            continue;
        }
        let (signed, boolean) = match Int::try_from(ty) {
            Ok(int) => (matches!(int.encoding, IntEncoding::Signed), matches!(int.encoding, IntEncoding::Bool)),
            Err(t) if t.is_any_enum() => (false, false),
            Err(_) => continue,
        };
        if matches!(info.size, 1 | 2 | 4 | 8) {
            slots.insert(
                name.to_string_lossy().into_owned(),
                ParamSlot { offset: info.offset as usize, size: info.size, signed, boolean, list: None },
            );
        }
    }
    slots
}

fn set_params(
    open: &mut OpenObject,
    slots: &BTreeMap<String, ParamSlot>,
    params: &BTreeMap<String, String>,
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let mut encoded = Vec::new();
    for (name, value) in params {
        let slot = slots.get(name).ok_or_else(|| {
            let known: Vec<_> = slots.keys().map(String::as_str).collect();
            Failure::new(
                ErrorKind::BadParam,
                format!(
                    "the scheduler has no parameter `{name}`; it has: {}",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            )
        })?;
        encoded.push((slot.offset, encode(name, value, slot)?));
    }
    let mut rodata = open
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
        .ok_or_else(|| bad_object("the object has parameters in BTF but no `.rodata` map"))?;
    let data = rodata.initial_value_mut().ok_or_else(|| bad_object("`.rodata` has no initial value"))?;
    for (offset, bytes) in encoded {
        data.get_mut(offset..offset + bytes.len())
            .ok_or_else(|| bad_object("a `.rodata` variable lies outside the section"))?
            .copy_from_slice(&bytes);
    }
    Ok(())
}

/// Encodes `value` as the little-endian bytes of the variable's type,
/// refusing anything that does not fit exactly.
fn encode(name: &str, value: &str, slot: &ParamSlot) -> Result<Vec<u8>> {
    if let Some(kind) = slot.list {
        return super::param::encode(name, value, kind, slot.size);
    }
    let bad = |why: &str| Failure::new(ErrorKind::BadParam, format!("parameter `{name}` = `{value}`: {why}"));
    let bits = slot.size as u32 * 8;
    let as_i128: i128 = if slot.boolean {
        match value {
            "true" | "1" => 1,
            "false" | "0" => 0,
            _ => return Err(bad("expected true or false")),
        }
    } else {
        value.parse::<i128>().map_err(|_| bad("expected an integer"))?
    };
    let (min, max) =
        if slot.signed { (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1) } else { (0, (1i128 << bits) - 1) };
    if as_i128 < min || as_i128 > max {
        return Err(bad(&format!("out of range {min}..={max}")));
    }
    Ok(as_i128.to_le_bytes()[..slot.size].to_vec())
}

impl Prepared {
    /// Loads every program into the kernel, which runs the verifier. The
    /// scheduler is not attached yet: whatever runs now keeps running.
    pub fn load(self) -> Result<Loaded> {
        let started = Instant::now();
        libbpf_log::take();
        let object = self.open.load().map_err(|e| {
            let captured = libbpf_log::take();
            let mut f = Failure::new(
                ErrorKind::VerifierRejected,
                format!("the kernel refused to load scheduler `{}`: {e}", self.ops_name),
            );
            f.verifier_log = libbpf_log::verifier_tail(&captured, 60);
            f
        })?;
        Ok(Loaded { object, map_name: self.map_name, ops_name: self.ops_name, started })
    }
}

impl Loaded {
    /// Registers the scheduler with the kernel and pins the link. From here
    /// on the kernel schedules with it until the pin is removed.
    pub fn attach_and_pin(mut self) -> Result<()> {
        super::link::prepare_pin_dir()?;
        let map_name = self.map_name.clone();
        let mut map =
            self.object.maps_mut().find(|m| m.name() == OsStr::new(&map_name)).expect("struct_ops map survives load");
        libbpf_log::take();
        let mut link: Link = map.attach_struct_ops().map_err(|e| {
            let reason = super::kernel::last_kernel_message().unwrap_or_else(|| libbpf_log::take().trim().to_owned());
            let busy = e.to_string().contains(&format!("os error {}", libc::EBUSY));
            let hint = if busy { ebusy_hint(super::kernel::read().ok().as_ref()) } else { String::new() };
            Failure::new(
                ErrorKind::NotEnabled,
                format!("the kernel refused to enable scheduler `{}`: {e}{hint}; kernel says: {reason}", self.ops_name),
            )
        })?;
        link.pin(super::link::pin_path()).map_err(|e| {
            // Dropping `link` here detaches the scheduler again.
            Failure::new(ErrorKind::Internal, format!("failed to pin the scheduler's link: {e}"))
        })
    }
}

/// What an EBUSY from an attach means, from what the kernel runs: another
/// scheduler holds sched_ext, or (none loaded) something else is busy, such
/// as an fentry/fexit program that cannot attach.
pub fn ebusy_hint(kernel: Option<&schedfleet_proto::KernelSchedExt>) -> String {
    match kernel {
        Some(k) if k.state != "disabled" => format!(
            " (EBUSY: another scheduler, `{}`, is loaded: sched_ext is `{}`; stop it first)",
            k.ops.as_deref().unwrap_or("?"),
            k.state
        ),
        Some(_) => " (EBUSY, but no other scheduler is loaded: sched_ext is `disabled`; a program of this object \
                    could not attach, such as an fentry/fexit program on a busy or missing function)"
            .to_owned(),
        None => " (EBUSY; sched_ext's state could not be read)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebusy_says_whether_another_scheduler_is_loaded() {
        let k = |state: &str, ops: Option<&str>| schedfleet_proto::KernelSchedExt {
            state: state.into(),
            ops: ops.map(Into::into),
            ..Default::default()
        };
        let other = ebusy_hint(Some(&k("enabled", Some("bpfland_1.1.4_x86_64_unknown_linux_gnu"))));
        assert!(other.contains("another scheduler, `bpfland_1.1.4_x86_64_unknown_linux_gnu`, is loaded"), "{other}");
        let none = ebusy_hint(Some(&k("disabled", None)));
        assert!(none.contains("no other scheduler is loaded") && none.contains("fentry"), "{none}");
    }

    fn slot(size: usize, signed: bool, boolean: bool) -> ParamSlot {
        ParamSlot { offset: 0, size, signed, boolean, list: None }
    }

    #[test]
    fn encode_checks_ranges_exactly() {
        assert_eq!(encode("a", "255", &slot(1, false, false)).unwrap(), vec![255]);
        assert!(encode("a", "256", &slot(1, false, false)).is_err());
        assert!(encode("a", "-1", &slot(8, false, false)).is_err());
        assert_eq!(encode("a", "-1", &slot(4, true, false)).unwrap(), vec![0xff; 4]);
        assert_eq!(encode("a", "5000000", &slot(8, false, false)).unwrap(), 5_000_000u64.to_le_bytes());
        assert!(encode("a", "1e6", &slot(8, false, false)).is_err());
    }

    #[test]
    fn encode_booleans() {
        assert_eq!(encode("b", "true", &slot(1, false, true)).unwrap(), vec![1]);
        assert_eq!(encode("b", "0", &slot(1, false, true)).unwrap(), vec![0]);
        let err = encode("b", "yes", &slot(1, false, true)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadParam);
    }

    /// The controller reads parameters without libbpf
    /// (`schedfleet_bpf::object`) so that `validate` refuses what this
    /// module would; both readings agree on every object the project ships.
    #[test]
    fn the_controllers_reading_of_parameters_is_libbpfs() {
        let objects = [
            schedfleet_bpf::builtin("simple").unwrap().object,
            schedfleet_bpf::builtin("serve").unwrap().object,
            schedfleet_bpf::testing::EJECTOR,
            schedfleet_bpf::testing::BROKEN_VERIFIER,
            schedfleet_bpf::probes::WAKELAT,
        ];
        let mut compared = 0;
        for bytes in objects {
            let open = ObjectBuilder::default().open_memory(bytes).unwrap();
            // SAFETY: the pointer comes from a live OpenObject that outlives `btf`.
            let btf = Btf::from_bpf_object(unsafe { open.as_libbpf_object().as_ref() }).unwrap().unwrap();
            let ours: Vec<_> =
                rodata_slots(&btf).into_iter().map(|(n, s)| (n, s.size, s.signed, s.boolean, s.list)).collect();
            let theirs: Vec<_> = schedfleet_bpf::object::inspect(bytes)
                .unwrap()
                .params
                .into_iter()
                .map(|(n, p)| (n, p.size, p.signed, p.boolean, p.list))
                .collect();
            assert_eq!(ours, theirs);
            compared += ours.len();
        }
        assert!(compared >= 3, "the objects have parameters to compare");
    }

    #[test]
    fn garbage_is_a_bad_object_not_a_panic() {
        let err = prepare(b"\x7fELF garbage", &BTreeMap::new()).err().expect("garbage must fail");
        assert_eq!(err.kind, ErrorKind::BadObject);
    }
}
