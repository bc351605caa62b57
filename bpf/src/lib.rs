//! The sched_ext schedulers that ship with schedfleet, as compiled BPF objects.
//!
//! This crate owns the BPF side of the project: the C sources of the builtin schedulers
//! (`schedulers/<name>/main.bpf.c`, with the values they share with userspace in
//! `intf.h`), the tracing probes the agent loads to measure a host (`probes/<name>/`), the
//! test fixtures (`testing/<name>/main.bpf.c`), the shared BPF header
//! (`include/schedfleet/common.bpf.h`), the `vmlinux.h` generated from the lab kernel's
//! BTF (`vmlinux/<release>/`), and the build step that turns them into objects embedded
//! here. It exposes each builtin as bytes plus what a loader needs to know about it: the
//! ops name the kernel reports once it is attached and the load-time parameters with
//! their defaults, and it describes the exit-info record every builtin keeps.
//!
//! It does not load, attach, pin or inspect anything in a kernel and links no libbpf:
//! that is the agent's job, on the target host. It does not validate parameter values
//! either; their bounds are documented on each [`Param`], and the BPF side refuses to
//! start with a value outside them.

pub mod object;
pub mod param;

/// A scheduler shipped inside schedfleet.
pub struct Builtin {
    /// The name users pick it by, also the folder under `schedulers/`.
    pub name: &'static str,
    /// The `sched_ext_ops.name` the kernel reports in `/sys/kernel/sched_ext/root/ops`
    /// while this scheduler is attached; what the agent compares to confirm a rollout.
    pub ops_name: &'static str,
    /// The BPF ELF object, with BTF and without DWARF, ready for libbpf to open.
    pub object: &'static [u8],
    /// The load-time parameters, in the order they should be shown.
    pub params: &'static [Param],
}

// Written by hand so that printing a builtin shows the object's size, not 50 KB of bytes.
impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .field("ops_name", &self.ops_name)
            .field("object", &format_args!("<{} bytes>", self.object.len()))
            .field("params", &self.params)
            .finish()
    }
}

/// A load-time parameter: a `const volatile` global in the object's `.rodata`, which a
/// loader may overwrite after opening the object and before loading it.
#[derive(Debug)]
pub struct Param {
    /// The name of the global in the object, which is also the name users set.
    pub name: &'static str,
    /// How the value is stored.
    pub kind: ParamKind,
    /// The value compiled into the object, written as a user would write it.
    pub default: &'static str,
    /// What the value does, with its unit and bounds.
    pub doc: &'static str,
    /// The values the scheduler accepts (its `ops.init` refuses to start
    /// otherwise), inclusive; `None` when every value of the kind is fine.
    /// The controller narrows a scheduler file's declaration to it.
    pub range: Option<(u64, u64)>,
}

/// How a [`Param`] is stored in `.rodata`: little-endian, at the symbol's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// An unsigned 32-bit integer (`u32`).
    U32,
    /// An unsigned 64-bit integer (`u64`).
    U64,
    /// A C `bool`: one byte, 0 or 1.
    Bool,
    /// A [`param::ListKind`] (a CPU list, cgroup paths, command-name prefixes): a struct
    /// of `include/schedfleet/params.h`, written as text and encoded by the agent.
    List(param::ListKind),
}

impl ParamKind {
    /// The size of the value in bytes.
    pub fn width(self) -> usize {
        match self {
            ParamKind::U32 => 4,
            ParamKind::U64 => 8,
            ParamKind::Bool => 1,
            ParamKind::List(kind) => kind.size(),
        }
    }
}

/// Every builtin scheduler, in the order they should be listed.
pub fn builtins() -> &'static [Builtin] {
    BUILTINS
}

/// The builtin scheduler called `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|builtin| builtin.name == name)
}

static BUILTINS: &[Builtin] = &[SIMPLE, SERVE];

const SIMPLE: Builtin = Builtin {
    name: "simple",
    ops_name: "simple",
    object: include_bytes!(concat!(env!("OUT_DIR"), "/simple.bpf.o")),
    params: &[Param {
        name: "slice_ns",
        kind: ParamKind::U64,
        default: "5000000",
        doc: "time slice in nanoseconds: how long a task runs before the CPU goes to the task with the \
              smallest weighted virtual time, and the most virtual-time credit a task keeps across a sleep; \
              100000 to 100000000 (100 us to 100 ms), the scheduler refuses to start otherwise",
        range: Some((100_000, 100_000_000)),
    }],
};

const SERVE: Builtin = Builtin {
    name: "serve",
    ops_name: "serve",
    object: include_bytes!(concat!(env!("OUT_DIR"), "/serve.bpf.o")),
    params: &[
        Param {
            name: "serving_cgroups",
            kind: ParamKind::List(param::ListKind::CgroupIds),
            default: "",
            doc: "the serving set's cgroups: comma-separated cgroup v2 paths (`/serving`, \
                  `system.slice/vllm.service`), up to 8; tasks in them or below are served first; \
                  the agent refuses a path that does not exist on the host",
            range: None,
        },
        Param {
            name: "serving_comms",
            kind: ParamKind::List(param::ListKind::CommPrefixes),
            default: "",
            doc: "the serving set's command names: comma-separated prefixes of a task's comm \
                  (`python,tokenize`), up to 8, each 1 to 15 bytes",
            range: None,
        },
        Param {
            name: "serving_cpus",
            kind: ParamKind::List(param::ListKind::CpuMask),
            default: "",
            doc: "serving CPUs: a CPU list (`0-3,8`) that serving tasks try first and batch tasks \
                  use only while no serving task wants them; the agent refuses CPUs the host does not \
                  have online; empty: none",
            range: None,
        },
        Param {
            name: "serving_slice_ns",
            kind: ParamKind::U64,
            default: "2000000",
            doc: "slice of a serving task (and of a batch task on a serving CPU) in nanoseconds; \
                  100000 to 100000000, the scheduler refuses to start otherwise",
            range: Some((100_000, 100_000_000)),
        },
        Param {
            name: "batch_slice_ns",
            kind: ParamKind::U64,
            default: "20000000",
            doc: "slice of a batch task in nanoseconds; batch tasks share the CPUs by weighted virtual \
                  time; 100000 to 100000000, the scheduler refuses to start otherwise",
            range: Some((100_000, 100_000_000)),
        },
        Param {
            name: "batch_max_wait_ns",
            kind: ParamKind::U64,
            default: "100000000",
            doc: "starvation bound in nanoseconds: a CPU that has not run a batch task for this long gives \
                  batch tasks a turn of batch_slice_ns ahead of serving tasks, longest waiting first; \
                  1000000 to 2000000000 (1 ms to 2 s), the scheduler refuses to start otherwise",
            range: Some((1_000_000, 2_000_000_000)),
        },
    ],
};

/// Tracing programs the agent loads for a while to measure a host, whatever scheduler
/// runs; they change no scheduling decision.
pub mod probes {
    /// Wake-up latency (`probes/wakelat/`): tp_btf programs on `sched_wakeup`,
    /// `sched_wakeup_new` and `sched_switch` that fill the per-CPU histogram
    /// `wakelat_hist` (`struct wakelat_hist`, bucket scheme in `probes/wakelat/intf.h`).
    /// Filter: the `.rodata` globals `target_cgid` (u64, 0 = every task) and
    /// `target_level` (u32).
    pub const WAKELAT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wakelat.bpf.o"));
}

/// BPF objects that exist only to be used by tests; never offered to users.
pub mod testing {
    /// A sched_ext scheduler (ops name `broken_verifier`) that the kernel's verifier
    /// rejects at load: its enqueue op dereferences a map lookup without a NULL check.
    pub const BROKEN_VERIFIER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/broken_verifier.bpf.o"));

    /// A sched_ext scheduler (ops name `ejector`) that loads and runs, then raises
    /// `scx_bpf_error()` once [`EJECTOR_AFTER_NS`] have passed since its `ops.init`, so the
    /// kernel ejects it at run time. The delay is the `.rodata` parameter `eject_after_ns`.
    pub const EJECTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ejector.bpf.o"));

    /// The default of the ejector's `eject_after_ns` parameter: 1.5 s.
    pub const EJECTOR_AFTER_NS: u64 = 1_500_000_000;
}

/// The layout of `struct sf_exit_info` (in `include/schedfleet/common.bpf.h`), the record
/// in which every builtin keeps why it left: the kernel's `scx_exit_info` copied in
/// `ops.exit`. It is the global named [`exit_info::SYMBOL`] in the object's `.bss`. A
/// `kind` of 0 means the scheduler has not exited; other values are the kernel's
/// `enum scx_exit_kind` (64 and up: unregistered, 1024 and up: an error). The strings are
/// NUL-terminated.
pub mod exit_info {
    /// The name of the global in `.bss`.
    pub const SYMBOL: &str = "sf_exit_info";
    /// The size of the record in bytes.
    pub const SIZE: usize = 1168;
    /// `s32 kind`: the kernel's `enum scx_exit_kind`.
    pub const KIND_OFFSET: usize = 0;
    /// `s64 exit_code`: the code given to `scx_bpf_exit()` or by userspace.
    pub const EXIT_CODE_OFFSET: usize = 8;
    /// `char reason[128]`: the kernel's short explanation.
    pub const REASON_OFFSET: usize = 16;
    /// The size of the reason buffer, NUL included.
    pub const REASON_LEN: usize = 128;
    /// `char msg[1024]`: the detailed message (a BPF error's text, stall details).
    pub const MSG_OFFSET: usize = 144;
    /// The size of the message buffer, NUL included.
    pub const MSG_LEN: usize = 1024;
}

#[cfg(test)]
mod tests {
    use super::*;

    include!(concat!(env!("OUT_DIR"), "/programs.rs"));

    /// The few facts about an ELF file that the tests check, read by hand to keep the
    /// crate free of dependencies. Only 64-bit little-endian files are accepted, which is
    /// what clang emits for `-target bpf` on x86.
    struct Elf<'a> {
        bytes: &'a [u8],
        machine: u16,
        sections: Vec<Section>,
    }

    struct Section {
        name: String,
        kind: u32,
        offset: usize,
        size: usize,
        link: usize,
    }

    struct Symbol {
        name: String,
        section: usize,
        value: usize,
        size: usize,
    }

    const EM_BPF: u16 = 247;
    const SHT_SYMTAB: u32 = 2;
    const SHT_NOBITS: u32 = 8;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    fn c_string(bytes: &[u8], at: usize) -> String {
        let end = bytes[at..].iter().position(|&b| b == 0).expect("unterminated ELF string");
        String::from_utf8(bytes[at..at + end].to_vec()).expect("ELF string is not UTF-8")
    }

    impl<'a> Elf<'a> {
        fn parse(bytes: &'a [u8]) -> Self {
            assert!(bytes.len() >= 64, "too short for an ELF header");
            assert_eq!(&bytes[..4], b"\x7fELF", "no ELF magic");
            assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
            assert_eq!(bytes[5], 1, "not a little-endian ELF file");
            let machine = u16_at(bytes, 18);
            let section_table = u64_at(bytes, 0x28) as usize;
            let entry_size = u16_at(bytes, 0x3a) as usize;
            let count = u16_at(bytes, 0x3c) as usize;
            let names_index = u16_at(bytes, 0x3e) as usize;
            assert_eq!(entry_size, 64, "unexpected section header size");
            let header = |index: usize| &bytes[section_table + index * entry_size..][..entry_size];
            let names_offset = u64_at(header(names_index), 24) as usize;
            let sections = (0..count)
                .map(|index| {
                    let h = header(index);
                    Section {
                        name: c_string(bytes, names_offset + u32_at(h, 0) as usize),
                        kind: u32_at(h, 4),
                        offset: u64_at(h, 24) as usize,
                        size: u64_at(h, 32) as usize,
                        link: u32_at(h, 40) as usize,
                    }
                })
                .collect();
            Elf { bytes, machine, sections }
        }

        fn section(&self, name: &str) -> Option<(usize, &Section)> {
            self.sections.iter().enumerate().find(|(_, section)| section.name == name)
        }

        fn data(&self, section: &Section) -> &'a [u8] {
            assert_ne!(section.kind, SHT_NOBITS, "section `{}` has no bytes in the file", section.name);
            &self.bytes[section.offset..section.offset + section.size]
        }

        fn symbols(&self) -> Vec<Symbol> {
            let table = self.sections.iter().find(|s| s.kind == SHT_SYMTAB).expect("no symbol table");
            let names = &self.sections[table.link];
            self.data(table)
                .chunks_exact(24)
                .map(|entry| Symbol {
                    name: c_string(self.bytes, names.offset + u32_at(entry, 0) as usize),
                    section: u16_at(entry, 6) as usize,
                    value: u64_at(entry, 8) as usize,
                    size: u64_at(entry, 16) as usize,
                })
                .collect()
        }

        fn symbol(&self, name: &str) -> Option<Symbol> {
            self.symbols().into_iter().find(|symbol| symbol.name == name)
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|window| window == needle)
    }

    /// What every sched_ext object must look like for the agent to load it.
    fn assert_sched_ext_object<'a>(what: &str, object: &'a [u8]) -> Elf<'a> {
        let elf = Elf::parse(object);
        assert_eq!(elf.machine, EM_BPF, "{what}: e_machine is not EM_BPF");
        assert!(elf.section(".struct_ops.link").is_some(), "{what}: no .struct_ops.link section");
        // libbpf needs BTF for struct_ops, kfuncs and CO-RE; DWARF is dead weight.
        assert!(elf.section(".BTF").is_some(), "{what}: no .BTF section");
        assert!(elf.section(".BTF.ext").is_some(), "{what}: no .BTF.ext section");
        let debug: Vec<&str> =
            elf.sections.iter().map(|s| s.name.as_str()).filter(|name| name.contains(".debug_")).collect();
        assert!(debug.is_empty(), "{what}: DWARF sections left after stripping: {debug:?}");
        elf
    }

    #[test]
    fn every_builtin_is_a_bpf_elf_with_struct_ops_link_and_rodata() {
        assert!(!builtins().is_empty());
        for builtin in builtins() {
            let elf = assert_sched_ext_object(builtin.name, builtin.object);
            assert!(elf.section(".rodata").is_some(), "{}: no .rodata section", builtin.name);
        }
    }

    #[test]
    fn simple_object_contains_its_name() {
        let simple = builtin("simple").expect("simple is a builtin");
        assert!(contains(simple.object, b"simple"));
    }

    #[test]
    fn ops_name_is_the_name_in_the_ops_table() {
        for builtin in builtins() {
            let elf = Elf::parse(builtin.object);
            let (_, ops) = elf.section(".struct_ops.link").unwrap();
            let mut name = builtin.ops_name.as_bytes().to_vec();
            name.push(0);
            assert!(
                contains(elf.data(ops), &name),
                "{}: ops name `{}` is not in .struct_ops.link",
                builtin.name,
                builtin.ops_name
            );
        }
    }

    #[test]
    fn param_defaults_match_the_objects_rodata() {
        for builtin in builtins() {
            let elf = Elf::parse(builtin.object);
            let (rodata_index, rodata) = elf.section(".rodata").unwrap();
            for param in builtin.params {
                let what = format!("{}.{}", builtin.name, param.name);
                let symbol = elf.symbol(param.name).unwrap_or_else(|| panic!("{what}: no such symbol"));
                assert_eq!(symbol.section, rodata_index, "{what}: not in .rodata");
                assert_eq!(symbol.size, param.kind.width(), "{what}: size does not match {:?}", param.kind);
                let bytes = &elf.data(rodata)[symbol.value..symbol.value + symbol.size];
                let compiled = match param.kind {
                    ParamKind::U32 => u32_at(bytes, 0).to_string(),
                    ParamKind::U64 => u64_at(bytes, 0).to_string(),
                    ParamKind::Bool => (bytes[0] != 0).to_string(),
                    // Lists are all zero (empty) by default.
                    ParamKind::List(_) if bytes.iter().all(|&b| b == 0) => String::new(),
                    ParamKind::List(_) => format!("{bytes:?}"),
                };
                assert_eq!(compiled, param.default, "{what}: documented default differs from the object");
                assert!(!param.doc.is_empty(), "{what}: undocumented");
            }
        }
    }

    /// The ranges in the table are the ones the BPF side checks in
    /// `ops.init`: the `*_MIN`/`*_MAX` defines of each scheduler's intf.h.
    #[test]
    fn param_ranges_are_the_ones_intf_h_defines() {
        let define = |header: &str, name: &str| -> u64 {
            let line = header
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("no #define {name}"));
            line.split_whitespace().nth(2).unwrap().trim_end_matches("ULL").parse().unwrap()
        };
        let simple = include_str!("../schedulers/simple/intf.h");
        let serve = include_str!("../schedulers/serve/intf.h");
        let expected = [
            ("simple", "slice_ns", simple, "SIMPLE_SLICE_NS"),
            ("serve", "serving_slice_ns", serve, "SERVE_SLICE_NS"),
            ("serve", "batch_slice_ns", serve, "SERVE_SLICE_NS"),
            ("serve", "batch_max_wait_ns", serve, "SERVE_MAX_WAIT_NS"),
        ];
        for (scheduler, param, header, prefix) in expected {
            let p = builtin(scheduler).unwrap().params.iter().find(|p| p.name == param).unwrap();
            let range = (define(header, &format!("{prefix}_MIN")), define(header, &format!("{prefix}_MAX")));
            assert_eq!(p.range, Some(range), "{scheduler}.{param}");
        }
    }

    #[test]
    fn every_builtin_keeps_exit_info_in_bss() {
        for builtin in builtins() {
            let elf = Elf::parse(builtin.object);
            let (bss_index, _) = elf.section(".bss").expect("no .bss section");
            let symbol = elf.symbol(exit_info::SYMBOL).expect("no exit-info record");
            assert_eq!(symbol.section, bss_index, "{}: exit info not in .bss", builtin.name);
            assert_eq!(symbol.size, exit_info::SIZE, "{}: exit info size", builtin.name);
        }
        assert_eq!(exit_info::MSG_OFFSET + exit_info::MSG_LEN, exit_info::SIZE);
        assert_eq!(exit_info::REASON_OFFSET + exit_info::REASON_LEN, exit_info::MSG_OFFSET);
    }

    #[test]
    fn builtins_cover_every_compiled_scheduler() {
        let mut listed: Vec<&str> = builtins().iter().map(|builtin| builtin.name).collect();
        listed.sort();
        assert_eq!(listed, COMPILED_SCHEDULERS, "schedulers/ and the BUILTINS table disagree");
        assert!(builtin("no-such-scheduler").is_none());
    }

    #[test]
    fn testing_objects_are_sched_ext_objects() {
        assert_eq!(COMPILED_TESTING, ["broken_verifier", "ejector"]);
        for (name, object) in [("broken_verifier", testing::BROKEN_VERIFIER), ("ejector", testing::EJECTOR)] {
            let elf = assert_sched_ext_object(name, object);
            let (_, ops) = elf.section(".struct_ops.link").unwrap();
            let mut ops_name = name.as_bytes().to_vec();
            ops_name.push(0);
            assert!(contains(elf.data(ops), &ops_name), "{name}: ops name not in .struct_ops.link");
        }
    }

    #[test]
    fn ejector_raises_its_error_after_the_documented_delay() {
        let elf = Elf::parse(testing::EJECTOR);
        let (rodata_index, rodata) = elf.section(".rodata").expect("ejector has .rodata");
        let symbol = elf.symbol("eject_after_ns").expect("eject_after_ns is a parameter");
        assert_eq!((symbol.section, symbol.size), (rodata_index, 8));
        assert_eq!(u64_at(elf.data(rodata), symbol.value), testing::EJECTOR_AFTER_NS);
        // The error's text is in the object (sf_error keeps the format in .data), and
        // the ejector keeps its exit info like every builtin.
        assert!(contains(testing::EJECTOR, b"ejector: deliberate error for tests"));
        let (bss_index, _) = elf.section(".bss").expect("no .bss section");
        assert_eq!(elf.symbol(exit_info::SYMBOL).map(|s| (s.section, s.size)), Some((bss_index, exit_info::SIZE)));
        // The three ops that make it run and then fail.
        for op in ["ejector_enqueue", "ejector_dispatch", "ejector_tick", "ejector_init"] {
            assert!(elf.symbol(op).is_some(), "ejector: no `{op}` program");
        }
    }

    #[test]
    fn wakelat_probe_is_a_tracing_object_with_its_maps_and_filter() {
        assert_eq!(COMPILED_PROBES, ["wakelat"]);
        let elf = Elf::parse(probes::WAKELAT);
        assert_eq!(elf.machine, EM_BPF);
        assert!(elf.section(".struct_ops.link").is_none(), "a probe is not a scheduler");
        for section in ["tp_btf/sched_wakeup", "tp_btf/sched_wakeup_new", "tp_btf/sched_switch", ".BTF", ".BTF.ext"] {
            assert!(elf.section(section).is_some(), "wakelat: no `{section}` section");
        }
        assert!(elf.sections.iter().all(|s| !s.name.contains(".debug_")), "wakelat: DWARF left");
        let (maps_index, _) = elf.section(".maps").expect("wakelat: no .maps");
        for map in ["wakelat_hist", "wakelat_start"] {
            assert_eq!(elf.symbol(map).map(|s| s.section), Some(maps_index), "wakelat: no map `{map}`");
        }
        let (rodata_index, rodata) = elf.section(".rodata").expect("wakelat: no .rodata");
        for (name, size) in [("target_cgid", 8), ("target_level", 4)] {
            let symbol = elf.symbol(name).unwrap_or_else(|| panic!("wakelat: no filter global `{name}`"));
            assert_eq!((symbol.section, symbol.size), (rodata_index, size), "wakelat: `{name}`");
            assert!(
                elf.data(rodata)[symbol.value..symbol.value + size].iter().all(|&b| b == 0),
                "{name} defaults to 0"
            );
        }
        // License GPL: the verifier only lets GPL programs read kernel memory.
        let (_, license) = elf.section("license").expect("wakelat: no license");
        assert_eq!(elf.data(license), b"GPL\0");
    }
}
