//! NVIDIA GPUs as the driver describes them under `/proc/driver/nvidia`:
//! the driver version and, per GPU, its `information` file. Read-only and
//! cheap: no NVML, no device node is opened, so a wedged GPU cannot hang a
//! report. Absent, without error, on hosts without the driver.

use std::path::Path;

use schedfleet_proto::{Gpu, GpuInfo};

const ROOT: &str = "/proc/driver/nvidia";

pub fn read() -> Option<GpuInfo> {
    read_from(Path::new(ROOT))
}

/// The report from a driver directory laid out like `/proc/driver/nvidia`.
pub fn read_from(root: &Path) -> Option<GpuInfo> {
    let version = std::fs::read_to_string(root.join("version")).ok()?;
    let mut gpus: Vec<Gpu> = std::fs::read_dir(root.join("gpus"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let info = std::fs::read_to_string(entry.path().join("information")).ok()?;
            Some(parse_information(&entry.file_name().to_string_lossy(), &info))
        })
        .collect();
    gpus.sort_by(|a, b| a.bus_location.cmp(&b.bus_location));
    Some(GpuInfo { driver_version: parse_driver_version(&version).unwrap_or_default(), gpus })
}

/// The version in the `NVRM version:` line, such as
/// `NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ...`
/// or `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build ...`:
/// the first word made of digits and dots.
pub fn parse_driver_version(text: &str) -> Option<String> {
    let line = text.lines().find_map(|l| l.trim_start().strip_prefix("NVRM version:"))?;
    line.split_whitespace()
        .find(|w| {
            w.contains('.')
                && w.starts_with(|c: char| c.is_ascii_digit())
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_owned)
}

/// Parses an `information` file, `Key: \t value` lines. `dir_name` (the
/// bus location the driver names the folder by) is used when the file has
/// no `Bus Location` line.
pub fn parse_information(dir_name: &str, text: &str) -> Gpu {
    let mut gpu = Gpu { bus_location: dir_name.to_owned(), ..Default::default() };
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "Model" => gpu.model = Some(value.to_owned()),
            "GPU UUID" => gpu.uuid = Some(value.to_owned()),
            "Video BIOS" => gpu.video_bios = Some(value.to_owned()),
            "Bus Location" => gpu.bus_location = value.to_owned(),
            "Device Minor" => gpu.device_minor = value.parse().ok(),
            _ => {}
        }
    }
    gpu
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFORMATION: &str = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 296\nGPU UUID: \t GPU-3a1c9e2b-5d4f-6a7b-8c9d-0e1f2a3b4c5d\nVideo BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t 0000:18:00.0\nDevice Minor: \t 3\nGPU Excluded:\t No\n";

    #[test]
    fn information_file_fields() {
        let gpu = parse_information("0000:18:00.0", INFORMATION);
        assert_eq!(gpu.model.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        assert_eq!(gpu.uuid.as_deref(), Some("GPU-3a1c9e2b-5d4f-6a7b-8c9d-0e1f2a3b4c5d"));
        assert_eq!(gpu.video_bios.as_deref(), Some("96.00.99.00.01"));
        assert_eq!(gpu.bus_location, "0000:18:00.0");
        assert_eq!(gpu.device_minor, Some(3));
    }

    /// As read on an H200 host (driver 580, open kernel module).
    #[test]
    fn information_and_version_of_a_real_h200() {
        let info = "Model: \t\t NVIDIA H200\nIRQ:   \t\t 41\nGPU UUID: \t GPU-0dfc444f-fee6-5b5f-4141-1138f2511876\nVideo BIOS: \t 96.00.a5.00.1a\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t 0000:00:06.0\nDevice Minor: \t 0\nGPU Firmware: \t 580.159.04\nGPU Excluded:\t No\n";
        let gpu = parse_information("0000:00:06.0", info);
        assert_eq!(gpu.model.as_deref(), Some("NVIDIA H200"));
        assert_eq!(gpu.video_bios.as_deref(), Some("96.00.a5.00.1a"));
        assert_eq!(gpu.device_minor, Some(0));
        let version = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n";
        assert_eq!(parse_driver_version(version).as_deref(), Some("580.159.04"));
    }

    #[test]
    fn information_with_missing_fields_keeps_the_folder_name() {
        let gpu = parse_information("0000:3b:00.0", "Model: \t\t Tesla T4\nDevice Minor: \t ?\n");
        assert_eq!(gpu.bus_location, "0000:3b:00.0");
        assert_eq!(gpu.model.as_deref(), Some("Tesla T4"));
        assert_eq!((gpu.uuid, gpu.device_minor), (None, None));
    }

    #[test]
    fn driver_versions_of_both_kernel_modules() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(parse_driver_version(proprietary).as_deref(), Some("535.104.05"));
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.14  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Feb 22 01:25:25 UTC 2024\nGCC version:  gcc version 12.3.0\n";
        assert_eq!(parse_driver_version(open).as_deref(), Some("550.54.14"));
        assert_eq!(parse_driver_version("GCC version: 12.2.0\n"), None);
    }

    #[test]
    fn driver_directory_is_read_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_from(dir.path()), None, "no version file: no driver");
        std::fs::write(dir.path().join("version"), "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  x\n")
            .unwrap();
        assert_eq!(read_from(dir.path()).unwrap().gpus, vec![], "a driver without GPUs");
        for bus in ["0000:9a:00.0", "0000:18:00.0"] {
            std::fs::create_dir_all(dir.path().join("gpus").join(bus)).unwrap();
            std::fs::write(dir.path().join("gpus").join(bus).join("information"), "Model: \t X\n").unwrap();
        }
        let info = read_from(dir.path()).unwrap();
        assert_eq!(info.driver_version, "570.86.15");
        let buses: Vec<_> = info.gpus.iter().map(|g| g.bus_location.as_str()).collect();
        assert_eq!(buses, ["0000:18:00.0", "0000:9a:00.0"]);
    }
}
