//! The kernel image qemu boots: the uncompressed ELF `vmlinux` extracted
//! from the cached `vmlinuz`, or `vmlinuz` itself when that is not possible.
//!
//! Under TCG the kernel's own decompressor is slow: booting the ELF through
//! its PVH entry point got sshd up 1.5 to 5 s sooner per VM on the 2-core
//! build machine (10 to 15 s in all). The extraction follows the bzImage
//! boot protocol: the setup header gives the offset and length of the
//! compressed payload, which for Debian's kernels is one zstd frame
//! followed by the 4-byte decompressed size; the `zstd` program unpacks it
//! once per kernel into the lab's image folder. Any surprise (another
//! compressor, no `zstd`, no ELF) falls back to `vmlinuz`, which always
//! boots, only slower.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{io_err, LabError};
use super::host::KernelCache;
use super::layout::LabLayout;
use super::tree::ImageTree;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Which image qemu gets, and why when it is the slower one.
#[derive(Debug, Clone)]
pub struct BootKernel {
    pub path: PathBuf,
    /// Why `vmlinuz` is booted instead of an extracted `vmlinux`.
    pub fallback_reason: Option<String>,
}

/// The extracted `vmlinux` (cached by the inputs' fingerprint), else `vmlinuz`.
pub fn boot_kernel(layout: &LabLayout, kernel: &KernelCache, zstd: Option<&Path>) -> Result<BootKernel, LabError> {
    let fallback = |reason: String| BootKernel { path: kernel.vmlinuz.clone(), fallback_reason: Some(reason) };
    let Some(zstd) = zstd else {
        return Ok(fallback("`zstd` is not installed".into()));
    };
    let mut inputs = ImageTree::new();
    inputs.host_file_mode("/vmlinuz", &kernel.vmlinuz, 0o644);
    let fingerprint = inputs.fingerprint()?;
    let dest = layout.image_dir(&kernel.release).join("vmlinux");
    let stamp = layout.image_dir(&kernel.release).join("vmlinux.inputs");
    if dest.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == fingerprint) {
        return Ok(BootKernel { path: dest, fallback_reason: None });
    }
    let bzimage = fs::read(&kernel.vmlinuz).map_err(io_err("read", &kernel.vmlinuz))?;
    let payload = match zstd_payload(&bzimage) {
        Ok(payload) => payload,
        Err(reason) => return Ok(fallback(reason)),
    };
    let dir = dest.parent().expect("the image lives in a folder");
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let compressed = dir.join("vmlinux.zst.tmp");
    let unpacked = dir.join("vmlinux.tmp");
    fs::write(&compressed, payload).map_err(io_err("write", &compressed))?;
    let out = Command::new(zstd)
        .args(["-d", "-q", "-f", "-o"])
        .arg(&unpacked)
        .arg("--")
        .arg(&compressed)
        .output()
        .map_err(io_err("run", zstd))?;
    let _ = fs::remove_file(&compressed);
    if !out.status.success() {
        let _ = fs::remove_file(&unpacked);
        return Ok(fallback(format!("`zstd` failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let mut head = [0u8; 4];
    let is_elf = fs::File::open(&unpacked).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok()
        && head == *b"\x7fELF";
    if !is_elf {
        let _ = fs::remove_file(&unpacked);
        return Ok(fallback("the payload of `vmlinuz` is not an ELF image".into()));
    }
    fs::rename(&unpacked, &dest).map_err(io_err("rename into", &dest))?;
    fs::write(&stamp, format!("{fingerprint}\n")).map_err(io_err("write", &stamp))?;
    Ok(BootKernel { path: dest, fallback_reason: None })
}

/// The zstd frame inside a bzImage, without the trailing size word.
fn zstd_payload(bzimage: &[u8]) -> Result<&[u8], String> {
    let u32_at = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(bzimage.get(at..at + 4)?.try_into().ok()?)) };
    if bzimage.get(0x202..0x206) != Some(b"HdrS") {
        return Err("`vmlinuz` is not a bzImage".into());
    }
    let setup_sects = match bzimage[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let protected_mode = (setup_sects + 1) * 512;
    let (Some(offset), Some(length)) = (u32_at(0x248), u32_at(0x24c)) else {
        return Err("`vmlinuz` has no payload fields".into());
    };
    let start = protected_mode + offset as usize;
    let end = start + (length as usize).saturating_sub(4);
    match bzimage.get(start..end) {
        Some(payload) if payload.starts_with(&ZSTD_MAGIC) => Ok(payload),
        Some(_) => Err("the kernel is not compressed with zstd".into()),
        None => Err("the payload fields of `vmlinuz` point past its end".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bzimage(payload: &[u8]) -> Vec<u8> {
        let mut image = vec![0u8; 5 * 512];
        image[0x1f1] = 4;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
        image.extend_from_slice(&[0u8; 16]);
        image.extend_from_slice(payload);
        image.extend_from_slice(&[9, 9, 9, 9]);
        image
    }

    #[test]
    fn the_payload_is_found_through_the_setup_header() {
        let payload = [ZSTD_MAGIC.as_slice(), b"frame"].concat();
        assert_eq!(zstd_payload(&fake_bzimage(&payload)).unwrap(), payload.as_slice());
    }

    #[test]
    fn other_images_are_refused_with_a_reason() {
        assert!(zstd_payload(&fake_bzimage(b"\x1f\x8bgzip")).unwrap_err().contains("zstd"));
        assert!(zstd_payload(&[0u8; 1024]).unwrap_err().contains("not a bzImage"));
        let mut truncated = fake_bzimage(&[ZSTD_MAGIC.as_slice(), b"frame"].concat());
        truncated.truncate(5 * 512 + 20);
        assert!(zstd_payload(&truncated).unwrap_err().contains("past its end"));
    }
}
