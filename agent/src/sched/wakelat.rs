//! The wake-up latency probe (`bpf/probes/wakelat/`): loading it for a
//! window, reading its histogram, and the bucket scheme it shares with
//! userspace.
//!
//! A [`Probe`] is the loaded object and its three tracepoint links. It
//! exists only as long as the Rust value: dropping it detaches the programs
//! and frees the maps, and nothing is pinned, so a crashed or killed agent
//! leaves nothing behind in the kernel either. The probe only traces; it
//! changes no scheduling decision and works under any scheduler.
//!
//! This module owns the wire-level view of the probe (object bytes in,
//! summed histogram out) and nothing of the report: percentiles and the JSON
//! shape are in `health::latency`. It depends on nothing else of the agent,
//! so the overhead benchmark (`agent/benches/wakelat_overhead.rs`) can
//! include it as it is; its errors are plain strings for the same reason.

use std::ffi::OsStr;

use libbpf_rs::btf::types::{DataSec, Var};
use libbpf_rs::{AsRawLibbpf, Btf, Link, MapCore, MapFlags, Object, ObjectBuilder, OpenObject};

/// Mirrors `intf.h`: 8 one-microsecond buckets, 8 per power of two from
/// 2^3 to 2^23 us, one overflow bucket.
pub const SUB_BITS: u32 = 3;
pub const SUB_BUCKETS: usize = 1 << SUB_BITS;
pub const MAX_LOG2: u32 = 24;
pub const NR_BUCKETS: usize = SUB_BUCKETS + (MAX_LOG2 - SUB_BITS) as usize * SUB_BUCKETS + 1;

/// `struct wakelat_hist`: the buckets, then count, sum_ns, max_ns, all u64.
const HIST_BYTES: usize = (NR_BUCKETS + 3) * 8;

/// The histogram of one window, summed over CPUs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `NR_BUCKETS` counts, indexed as [`bucket_of_us`] says.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
    pub max_ns: u64,
}

/// Only tasks in this cgroup v2 (or below it) are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupFilter {
    /// The cgroup's id: the inode number of its cgroup2 directory.
    pub id: u64,
    /// Its depth below the cgroup2 root (the root is 0).
    pub level: u32,
}

/// The bucket holding a latency of `us` whole microseconds; the same
/// computation as `wakelat_bucket()` in the BPF program. The agent only
/// reads buckets; this mirror is what the tests check the bounds against.
#[cfg_attr(not(test), allow(dead_code))]
pub fn bucket_of_us(us: u64) -> usize {
    if us < SUB_BUCKETS as u64 {
        return us as usize;
    }
    if us >= 1 << MAX_LOG2 {
        return NR_BUCKETS - 1;
    }
    let e = 63 - us.leading_zeros();
    SUB_BUCKETS + (e - SUB_BITS) as usize * SUB_BUCKETS + ((us >> (e - SUB_BITS)) as usize & (SUB_BUCKETS - 1))
}

/// The exclusive upper bound, in microseconds, of `bucket`; `None` for the
/// overflow bucket, which has none.
pub fn bucket_upper_us(bucket: usize) -> Option<u64> {
    if bucket < SUB_BUCKETS {
        return Some(bucket as u64 + 1);
    }
    if bucket >= NR_BUCKETS - 1 {
        return None;
    }
    let e = (bucket - SUB_BUCKETS) / SUB_BUCKETS + SUB_BITS as usize;
    let width = 1u64 << (e - SUB_BITS as usize);
    let sub = ((bucket - SUB_BUCKETS) % SUB_BUCKETS) as u64;
    Some((SUB_BUCKETS as u64 + sub + 1) * width)
}

/// The probe, loaded and attached. Field order matters: the links are
/// dropped (detached) before the object's programs and maps are closed.
pub struct Probe {
    _links: Vec<Link>,
    object: Object,
}

impl Probe {
    /// Opens the probe from its object bytes, sets the filter, has the
    /// kernel verify it and attaches its programs.
    pub fn attach(bytes: &[u8], filter: Option<CgroupFilter>) -> Result<Probe, String> {
        let mut open =
            ObjectBuilder::default().open_memory(bytes).map_err(|e| format!("cannot open the probe object: {e}"))?;
        if let Some(filter) = filter {
            set_rodata(&mut open, "target_cgid", &filter.id.to_le_bytes())?;
            set_rodata(&mut open, "target_level", &filter.level.to_le_bytes())?;
        }
        let object = open.load().map_err(|e| format!("the kernel refused the probe: {e}"))?;
        let mut links = Vec::new();
        for prog in object.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            links.push(prog.attach().map_err(|e| format!("cannot attach probe program `{name}`: {e}"))?);
        }
        Ok(Probe { _links: links, object })
    }

    /// The histogram so far, summed over every CPU's copy (max: the
    /// largest). The copies are read while the programs run, so a sample
    /// recorded during the read may be half in: its bucket counted but not
    /// its sum. Callers count samples from the buckets.
    pub fn read(&self) -> Result<Histogram, String> {
        let map = self
            .object
            .maps()
            .find(|m| m.name() == OsStr::new("wakelat_hist"))
            .ok_or("the probe has no `wakelat_hist` map")?;
        let per_cpu = map
            .lookup_percpu(&0u32.to_le_bytes(), MapFlags::ANY)
            .map_err(|e| format!("cannot read the probe's histogram: {e}"))?
            .ok_or("the probe's histogram has no entry")?;
        let mut hist = Histogram { buckets: vec![0; NR_BUCKETS], ..Default::default() };
        for copy in &per_cpu {
            if copy.len() < HIST_BYTES {
                return Err(format!("the probe's histogram is {} bytes, expected {HIST_BYTES}", copy.len()));
            }
            let word = |i: usize| u64::from_le_bytes(copy[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            for (i, bucket) in hist.buckets.iter_mut().enumerate() {
                *bucket += word(i);
            }
            hist.count += word(NR_BUCKETS);
            hist.sum_ns += word(NR_BUCKETS + 1);
            hist.max_ns = hist.max_ns.max(word(NR_BUCKETS + 2));
        }
        Ok(hist)
    }
}

/// Writes `value` over the `.rodata` global `name`, found through the
/// object's BTF, before load.
fn set_rodata(open: &mut OpenObject, name: &str, value: &[u8]) -> Result<(), String> {
    let offset = {
        // SAFETY: the pointer comes from a live OpenObject that outlives `btf`.
        let btf = Btf::from_bpf_object(unsafe { open.as_libbpf_object().as_ref() })
            .map_err(|e| format!("cannot read the probe's BTF: {e}"))?
            .ok_or("the probe object has no BTF")?;
        let sec = btf.type_by_name::<DataSec<'_>>(".rodata").ok_or("the probe has no .rodata")?;
        let found = sec
            .iter()
            .find(|info| {
                btf.type_by_id::<Var<'_>>(info.ty).and_then(|v| v.name()) == Some(OsStr::new(name))
                    && info.size == value.len()
            })
            .map(|info| info.offset as usize);
        found.ok_or_else(|| format!("the probe has no {}-byte global `{name}`", value.len()))?
    };
    let mut rodata = open
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
        .ok_or("the probe has no .rodata map")?;
    let data = rodata.initial_value_mut().ok_or("the probe's .rodata has no data")?;
    data.get_mut(offset..offset + value.len())
        .ok_or("a .rodata global lies outside the section")?
        .copy_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_count_matches_intf_h() {
        assert_eq!(NR_BUCKETS, 177);
    }

    #[test]
    fn every_value_lies_below_its_buckets_upper_bound_and_above_the_previous_one() {
        let mut values: Vec<u64> = (0..5000).collect();
        values.extend((12..24).flat_map(|e| [(1u64 << e) - 1, 1 << e, (1 << e) + 1, 3 << (e - 1)]));
        for us in values {
            let b = bucket_of_us(us);
            let upper = bucket_upper_us(b).unwrap();
            assert!(us < upper, "{us} us in bucket {b} with upper bound {upper}");
            if b > 0 {
                assert!(us >= bucket_upper_us(b - 1).unwrap(), "{us} us belongs below bucket {b}");
            }
            // At most 12.5% too high above 8 us, exact below.
            assert!(us < 8 || (upper - us) * 8 <= us + 8, "{us} -> {upper}");
        }
    }

    #[test]
    fn buckets_have_known_bounds() {
        assert_eq!(bucket_of_us(0), 0);
        assert_eq!(bucket_of_us(7), 7);
        assert_eq!((bucket_of_us(8), bucket_upper_us(8)), (8, Some(9)));
        assert_eq!((bucket_of_us(16), bucket_upper_us(16)), (16, Some(18)));
        assert_eq!(bucket_upper_us(bucket_of_us(100)), Some(104));
        assert_eq!(bucket_upper_us(bucket_of_us(5000)), Some(5120));
        assert_eq!(bucket_upper_us(NR_BUCKETS - 2), Some(1 << MAX_LOG2));
        assert_eq!(bucket_of_us((1 << MAX_LOG2) - 1), NR_BUCKETS - 2);
        assert_eq!(bucket_of_us(1 << MAX_LOG2), NR_BUCKETS - 1);
        assert_eq!(bucket_upper_us(NR_BUCKETS - 1), None);
    }

    #[test]
    fn garbage_bytes_are_an_error_not_a_panic() {
        assert!(Probe::attach(b"\x7fELF garbage", None).is_err());
    }
}
