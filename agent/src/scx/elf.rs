//! The shared libraries an ELF executable asks the dynamic loader for
//! (`DT_NEEDED`), read the way the loader reads them: through the program
//! headers (`PT_DYNAMIC`, and the `PT_LOAD` segment that holds `DT_STRTAB`),
//! so a binary stripped of its section headers reads the same. 64-bit
//! little-endian ELF only, the one kind of host schedfleet supports; a
//! binary without `PT_DYNAMIC` is static and needs nothing.
//!
//! A reader of its own rather than an ELF crate: it is fifty lines, and the
//! agent's size matters (it is pushed to every host).

/// Why a file's needed list could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotElf(pub String);

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The `DT_NEEDED` names of `bytes`, in the file's order; empty for a static
/// executable.
pub fn needed(bytes: &[u8]) -> Result<Vec<String>, NotElf> {
    let bad = |why: &str| NotElf(why.to_owned());
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err(bad("not an ELF file"));
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err(bad("not a 64-bit little-endian ELF file"));
    }
    let phoff = u64_at(bytes, 0x20).ok_or_else(|| bad("truncated ELF header"))? as usize;
    let phentsize = u16_at(bytes, 0x36).ok_or_else(|| bad("truncated ELF header"))? as usize;
    let phnum = u16_at(bytes, 0x38).ok_or_else(|| bad("truncated ELF header"))? as usize;
    if phentsize < 56 {
        return Err(bad("program headers too small"));
    }
    // (vaddr, offset, filesz) of each PT_LOAD, and PT_DYNAMIC's (offset, filesz).
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or_else(|| bad("program header offset overflows"))?;
        let kind = u32_at(bytes, ph).ok_or_else(|| bad("truncated program headers"))?;
        let offset = u64_at(bytes, ph + 8).ok_or_else(|| bad("truncated program headers"))?;
        let vaddr = u64_at(bytes, ph + 16).ok_or_else(|| bad("truncated program headers"))?;
        let filesz = u64_at(bytes, ph + 32).ok_or_else(|| bad("truncated program headers"))?;
        match kind {
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            PT_DYNAMIC => dynamic = Some((offset, filesz)),
            _ => {}
        }
    }
    let Some((dyn_off, dyn_size)) = dynamic else { return Ok(Vec::new()) };
    let mut needed_offsets = Vec::new();
    let mut strtab = None;
    let end = dyn_off.saturating_add(dyn_size) as usize;
    let mut at = dyn_off as usize;
    while at + 16 <= end {
        let tag = u64_at(bytes, at).ok_or_else(|| bad("truncated dynamic section"))?;
        let val = u64_at(bytes, at + 8).ok_or_else(|| bad("truncated dynamic section"))?;
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed_offsets.push(val),
            DT_STRTAB => strtab = Some(val),
            _ => {}
        }
        at += 16;
    }
    if needed_offsets.is_empty() {
        return Ok(Vec::new());
    }
    let strtab_vaddr = strtab.ok_or_else(|| bad("DT_NEEDED without DT_STRTAB"))?;
    let strtab_off = loads
        .iter()
        .find(|(vaddr, _, filesz)| strtab_vaddr >= *vaddr && strtab_vaddr < vaddr.saturating_add(*filesz))
        .map(|(vaddr, offset, _)| strtab_vaddr - vaddr + offset)
        .ok_or_else(|| bad("DT_STRTAB lies in no loaded segment"))?;
    needed_offsets
        .into_iter()
        .map(|name_off| {
            let start = strtab_off.checked_add(name_off).ok_or_else(|| bad("name offset overflows"))? as usize;
            let rest = bytes.get(start..).ok_or_else(|| bad("name past the end of the file"))?;
            let len = rest.iter().position(|&b| b == 0).ok_or_else(|| bad("unterminated name"))?;
            Ok(String::from_utf8_lossy(&rest[..len]).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real dynamic binary of this machine (its libc, at least), and
    /// the same needed list `ldd`'s loader would start from.
    #[test]
    fn a_real_dynamic_binary_needs_libc() {
        let bytes = std::fs::read("/bin/ls").expect("/bin/ls exists on every test machine");
        let names = needed(&bytes).unwrap();
        assert!(names.iter().any(|n| n == "libc.so.6"), "{names:?}");
        assert!(names.iter().all(|n| n.contains(".so")), "{names:?}");
    }

    /// This test binary itself (dynamic, built by cargo) agrees with the
    /// section-header reading of `readelf`, when readelf is there.
    #[test]
    fn agrees_with_readelf_on_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let ours = needed(&std::fs::read(&exe).unwrap()).unwrap();
        let Ok(out) = std::process::Command::new("readelf").arg("-d").arg(&exe).output() else {
            // readelf (binutils) is part of the build toolchain here; without
            // it the libc check above still holds.
            assert!(ours.iter().any(|n| n == "libc.so.6"), "{ours:?}");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs: Vec<String> = text
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_owned()))
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert_eq!(needed(b"#!/bin/sh\n"), Err(NotElf("not an ELF file".into())));
        assert!(needed(b"\x7fELF\x01\x01").is_err(), "32-bit");
        let bytes = std::fs::read("/bin/ls").unwrap();
        for cut in [16, 64, 300, 1000] {
            let _ = needed(&bytes[..cut]);
        }
    }

    #[test]
    fn an_elf_without_pt_dynamic_needs_nothing() {
        // A minimal ELF header with no program headers: static.
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x36] = 56;
        assert_eq!(needed(&b), Ok(vec![]));
    }
}
