//! The Rust mirror of `include/schedfleet/params.h`: the list parameters a
//! scheduler may declare (a CPU list, cgroups, command-name prefixes), how
//! their values are written as text, and how they become the bytes of the
//! struct in `.rodata`.
//!
//! A loader recognises a list parameter by the name of its struct in the
//! object's BTF ([`ListKind::from_struct_name`]) and takes its capacity from
//! the struct's size there, so an object built with larger arrays needs no
//! change here. This module only parses and encodes: resolving a cgroup path
//! to an id and checking CPUs against the host is the agent's job (it runs
//! there); checking the text before any host is contacted is the
//! controller's, with the same parsers.

use std::fmt;

/// A list parameter's kind: which struct of `params.h` holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// `struct sf_cpumask`: written as a CPU list, `0-3,8`.
    CpuMask,
    /// `struct sf_cgroup_ids`: written as comma-separated cgroup v2 paths.
    CgroupIds,
    /// `struct sf_comm_prefixes`: written as comma-separated prefixes.
    CommPrefixes,
}

/// The kernel's `TASK_COMM_LEN`, the size of one prefix slot.
pub const COMM_LEN: usize = 16;

impl ListKind {
    pub const ALL: [ListKind; 3] = [ListKind::CpuMask, ListKind::CgroupIds, ListKind::CommPrefixes];

    /// The struct's name in C and in BTF.
    pub fn struct_name(self) -> &'static str {
        match self {
            ListKind::CpuMask => "sf_cpumask",
            ListKind::CgroupIds => "sf_cgroup_ids",
            ListKind::CommPrefixes => "sf_comm_prefixes",
        }
    }

    pub fn from_struct_name(name: &str) -> Option<ListKind> {
        ListKind::ALL.into_iter().find(|k| k.struct_name() == name)
    }

    /// The type's name in scheduler files (`type: cpu_list`).
    pub fn type_name(self) -> &'static str {
        match self {
            ListKind::CpuMask => "cpu_list",
            ListKind::CgroupIds => "cgroup_paths",
            ListKind::CommPrefixes => "comm_prefixes",
        }
    }

    /// The struct's size in `params.h` (the builtins' capacity).
    pub fn size(self) -> usize {
        match self {
            ListKind::CpuMask => 1024 / 8,
            ListKind::CgroupIds => 8 * 8,
            ListKind::CommPrefixes => 8 * COMM_LEN,
        }
    }

    /// How many entries a struct of `size` bytes holds: CPU ids for a mask,
    /// entries for the others.
    pub fn capacity(self, size: usize) -> usize {
        match self {
            ListKind::CpuMask => size / 8 * 64,
            ListKind::CgroupIds => size / 8,
            ListKind::CommPrefixes => size / COMM_LEN,
        }
    }

    /// What a value looks like, for messages.
    pub fn expected(self) -> &'static str {
        match self {
            ListKind::CpuMask => "a CPU list such as `0-3,8` (empty: none)",
            ListKind::CgroupIds => {
                "comma-separated cgroup v2 paths such as `/serving,system.slice/vllm.service` (empty: none)"
            }
            ListKind::CommPrefixes => "comma-separated command-name prefixes such as `python,tokenize` (empty: none)",
        }
    }

    /// Checks only how the value is written, whatever the capacity.
    pub fn check_syntax(self, text: &str) -> Result<(), String> {
        match self {
            ListKind::CpuMask => parse_cpu_list(text).map(drop),
            ListKind::CgroupIds => parse_cgroup_paths(text).map(drop),
            ListKind::CommPrefixes => parse_comm_prefixes(text).map(drop),
        }
    }

    /// Checks the text of a value as far as it can be checked anywhere (not
    /// whether the CPUs or cgroups exist on a host), against the capacity
    /// of a struct of `size` bytes.
    pub fn check_text(self, text: &str, size: usize) -> Result<(), String> {
        let count = match self {
            ListKind::CpuMask => {
                let cpus = parse_cpu_list(text)?;
                if let Some(&last) = cpus.last() {
                    if last as usize >= self.capacity(size) {
                        return Err(format!(
                            "CPU {last} is past what the scheduler can hold (CPUs 0-{})",
                            self.capacity(size) - 1
                        ));
                    }
                }
                return Ok(());
            }
            ListKind::CgroupIds => parse_cgroup_paths(text)?.len(),
            ListKind::CommPrefixes => parse_comm_prefixes(text)?.len(),
        };
        if count > self.capacity(size) {
            return Err(format!("{count} entries, but the scheduler holds at most {}", self.capacity(size)));
        }
        Ok(())
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

/// Splits a comma-separated list, ignoring spaces around items; the empty
/// string (or only spaces) is the empty list. An empty item between commas
/// is an error.
fn items(text: &str) -> Result<Vec<&str>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(str::trim)
        .map(|item| if item.is_empty() { Err("an empty item between commas".to_owned()) } else { Ok(item) })
        .collect()
}

/// A kernel CPU list (`0-3,8,10-11`, as in `/sys/devices/system/cpu/online`)
/// as sorted, distinct CPU ids.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for item in items(text)? {
        let cpu = |s: &str| {
            s.trim().parse::<u32>().map_err(|_| format!("`{s}` is not a CPU number (write CPU lists like `0-3,8`)"))
        };
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None => (cpu(item)?, cpu(item)?),
        };
        if lo > hi {
            return Err(format!("range `{item}` runs backwards"));
        }
        if hi >= 1 << 20 {
            return Err(format!("CPU {hi} is not a CPU any kernel has"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Writes sorted CPU ids back as a CPU list (`0-3,8`).
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// Comma-separated cgroup v2 paths: each non-empty, without `..`, `.` or
/// empty components and without NUL; returned as written.
pub fn parse_cgroup_paths(text: &str) -> Result<Vec<&str>, String> {
    let paths = items(text)?;
    for path in &paths {
        let inner = path.strip_prefix('/').unwrap_or(path);
        if inner.is_empty() {
            return Err(format!(
                "cgroup `{path}` is the root cgroup, which holds every task; name the serving cgroup below it"
            ));
        }
        if path.contains('\0') || inner.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(format!("cgroup `{}` must be a plain path (no `..`, `.` or `//`)", path.escape_debug()));
        }
    }
    Ok(paths)
}

/// Comma-separated command-name prefixes, each 1 to 15 bytes (a task's
/// comm holds at most 15).
pub fn parse_comm_prefixes(text: &str) -> Result<Vec<&str>, String> {
    let prefixes = items(text)?;
    for prefix in &prefixes {
        if prefix.len() >= COMM_LEN {
            return Err(format!(
                "command-name prefix `{}` is {} bytes; a task's command name holds at most {}",
                prefix.escape_debug(),
                prefix.len(),
                COMM_LEN - 1
            ));
        }
        if prefix.contains('\0') {
            return Err(format!("command-name prefix `{}` contains a NUL byte", prefix.escape_debug()));
        }
    }
    Ok(prefixes)
}

/// The bytes of an `sf_cpumask` of `size` bytes with `cpus` set.
pub fn encode_cpumask(cpus: &[u32], size: usize) -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; size];
    for &cpu in cpus {
        let word = cpu as usize / 64;
        if word * 8 + 8 > size {
            return Err(format!("CPU {cpu} is past what the scheduler can hold (CPUs 0-{})", size / 8 * 64 - 1));
        }
        let mut value = u64::from_le_bytes(bytes[word * 8..word * 8 + 8].try_into().expect("8 bytes"));
        value |= 1 << (cpu % 64);
        bytes[word * 8..word * 8 + 8].copy_from_slice(&value.to_le_bytes());
    }
    Ok(bytes)
}

/// The bytes of an `sf_cgroup_ids` of `size` bytes holding `ids`.
pub fn encode_ids(ids: &[u64], size: usize) -> Result<Vec<u8>, String> {
    if ids.len() > size / 8 {
        return Err(format!("{} cgroups, but the scheduler holds at most {}", ids.len(), size / 8));
    }
    if ids.contains(&0) {
        return Err("cgroup id 0 marks the end of the list and cannot be a cgroup".into());
    }
    let mut bytes = vec![0u8; size];
    for (i, id) in ids.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&id.to_le_bytes());
    }
    Ok(bytes)
}

/// The bytes of an `sf_comm_prefixes` of `size` bytes holding `prefixes`.
pub fn encode_comms(prefixes: &[&str], size: usize) -> Result<Vec<u8>, String> {
    if prefixes.len() > size / COMM_LEN {
        return Err(format!("{} prefixes, but the scheduler holds at most {}", prefixes.len(), size / COMM_LEN));
    }
    let mut bytes = vec![0u8; size];
    for (i, prefix) in prefixes.iter().enumerate() {
        bytes[i * COMM_LEN..i * COMM_LEN + prefix.len()].copy_from_slice(prefix.as_bytes());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_the_kernels() {
        assert_eq!(parse_cpu_list("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpu_list(" 2, 0-1 ,1").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").unwrap_err().contains("backwards"));
        assert!(parse_cpu_list("0,,1").unwrap_err().contains("empty item"));
        assert!(parse_cpu_list("a").unwrap_err().contains("`a` is not a CPU number"));
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn cpumasks_set_the_bits_params_h_says() {
        let bytes = encode_cpumask(&[0, 3, 64, 1023], 128).unwrap();
        assert_eq!(bytes[0], 0b1001);
        assert_eq!(bytes[8], 1);
        assert_eq!(bytes[127], 0x80);
        assert!(encode_cpumask(&[1024], 128).unwrap_err().contains("CPUs 0-1023"));
        assert!(ListKind::CpuMask.check_text("0-1024", 128).is_err());
        assert!(ListKind::CpuMask.check_text("0-1023", 128).is_ok());
    }

    #[test]
    fn cgroup_paths_are_plain() {
        assert_eq!(
            parse_cgroup_paths("/serving, system.slice/a.service").unwrap(),
            ["/serving", "system.slice/a.service"]
        );
        assert!(parse_cgroup_paths("/a/../b").is_err());
        assert!(parse_cgroup_paths("/").unwrap_err().contains("root cgroup"));
        assert!(parse_cgroup_paths("a//b").is_err());
        let nine = vec!["/a"; 9].join(",");
        assert!(ListKind::CgroupIds.check_text(&nine, 64).unwrap_err().contains("at most 8"));
        assert_eq!(&encode_ids(&[7, 9], 64).unwrap()[..16], &[7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        assert!(encode_ids(&[0], 64).is_err());
    }

    #[test]
    fn comm_prefixes_fit_a_comm() {
        assert_eq!(parse_comm_prefixes("python,tok").unwrap(), ["python", "tok"]);
        assert!(parse_comm_prefixes("0123456789abcdef").unwrap_err().contains("at most 15"));
        let bytes = encode_comms(&["ab", "c"], 128).unwrap();
        assert_eq!(&bytes[..3], b"ab\0");
        assert_eq!(&bytes[16..18], b"c\0");
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for kind in ListKind::ALL {
            assert_eq!(ListKind::from_struct_name(kind.struct_name()), Some(kind));
        }
        assert_eq!(ListKind::from_struct_name("sf_exit_info"), None);
    }
}
