/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the `wakelat` probe shares with userspace: the histogram's layout and
 * bucket scheme, and the load-time filter. Plain C with no kernel types, so
 * userspace can mirror it (the agent does, in agent/src/sched/wakelat.rs).
 *
 * What is measured: for every task woken (sched_wakeup, sched_wakeup_new),
 * the time from the wake-up to the moment it is switched in (sched_switch
 * with the task as `next`), in nanoseconds of bpf_ktime_get_ns(). Tasks that
 * were preempted while running and wait to run again are not counted (unlike
 * runqlat's default): this is the latency a sleeping request handler sees,
 * not general run-queue latency.
 *
 * Histogram buckets, on the latency in whole microseconds, u = ns / 1000:
 *
 *   u < 8               bucket u                       (1 us wide)
 *   8 <= u < 2^24       e = floor(log2(u)), s = (u >> (e - 3)) & 7,
 *                       bucket 8 + (e - 3) * 8 + s      (8 per power of two)
 *   u >= 2^24 (~16.8 s) bucket WAKELAT_NR_BUCKETS - 1   (overflow)
 *
 * So below 8 us every microsecond has a bucket; above, every power of two
 * [2^e, 2^(e+1)) is cut into 8 equal buckets of width 2^(e-3) us, and the
 * upper bound of a bucket is at most 12.5% above any value in it. Bucket b
 * (8 <= b < WAKELAT_NR_BUCKETS - 1) holds [lo, lo + w) with
 * e = (b - 8) / 8 + 3, w = 2^(e-3), lo = (8 + (b - 8) % 8) * w.
 */
#ifndef SCHEDFLEET_WAKELAT_INTF_H
#define SCHEDFLEET_WAKELAT_INTF_H

#define WAKELAT_SUB_BITS 3
#define WAKELAT_SUB_BUCKETS (1 << WAKELAT_SUB_BITS) /* 8 */
#define WAKELAT_MAX_LOG2 24 /* 2^24 us, about 16.8 s */
/* 8 linear buckets, 8 per power of two from 2^3 to 2^23, one overflow. */
#define WAKELAT_NR_BUCKETS \
	(WAKELAT_SUB_BUCKETS + (WAKELAT_MAX_LOG2 - WAKELAT_SUB_BITS) * WAKELAT_SUB_BUCKETS + 1) /* 177 */

/*
 * The value of the one entry of the per-CPU array map `wakelat_hist`. Each CPU
 * updates its own copy without atomics (tracing programs run with migration
 * disabled); userspace sums the copies (max: takes the largest). All u64,
 * little-endian, no padding: buckets at 0, then count, sum_ns, max_ns.
 */
struct wakelat_hist {
	unsigned long long buckets[WAKELAT_NR_BUCKETS];
	unsigned long long count;  /* samples recorded */
	unsigned long long sum_ns; /* sum of their latencies */
	unsigned long long max_ns; /* largest latency */
};

/*
 * Load-time filter, `const volatile` globals in .rodata:
 *
 * target_cgid (u64): 0 records every task. Otherwise only tasks whose cgroup
 * v2 (default hierarchy) is the cgroup with this id, or one of its
 * descendants, are recorded. The id is the cgroup's kernfs id, which is the
 * inode number of its directory in the cgroup2 file system (and what
 * bpf_get_current_cgroup_id() returns for tasks inside it). The task checked
 * is the woken task, at wake-up time, never the waker (which is what
 * bpf_get_current_cgroup_id() would give in sched_wakeup).
 *
 * target_level (u32): the depth of that cgroup below the cgroup2 root (the
 * root is 0, /system.slice 1, /system.slice/x.service 2), so that the probe
 * can compare one ancestor instead of walking the whole chain.
 */

#endif /* SCHEDFLEET_WAKELAT_INTF_H */
