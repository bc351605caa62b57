/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wakelat: how long woken tasks wait before they run, as a histogram.
 *
 * A probe, not a scheduler: it only traces, so it works under any scheduler,
 * the kernel's default included, and changes no scheduling decision. The
 * agent loads it for the window of one `status` report, reads the histogram
 * and unloads it; nothing is pinned.
 *
 * At sched_wakeup and sched_wakeup_new the woken task gets a timestamp in
 * task-local storage. At sched_switch the task switched in (`next`) has its
 * timestamp turned into a latency and recorded in a per-CPU histogram (layout
 * and bucket scheme in intf.h). The task switched out (`prev`), when it stays
 * runnable, has any pending timestamp cleared: a task can be "woken" while it
 * is still running (it set itself to sleep, then was woken before it called
 * schedule()), and if it is then preempted, that timestamp would be turned
 * into a bogus latency when it is switched back in, with no wake-up between.
 *
 * Why task storage and not a hash map keyed by pid: it needs no size limit
 * to guess, cannot confuse a reused pid with the task that had it, and the
 * kernel frees each entry with its task (and all of them with the map when
 * the probe is unloaded). Why per-CPU histograms and no ring buffer: one
 * sample costs a handful of increments on a cache line no other CPU writes,
 * and userspace reads the result once, at the end of the window.
 *
 * The cost per event is one task-storage lookup (at a wake-up, with creation
 * the first time a task is seen), at a switch one lookup for `next` and, when
 * a sample completes, one array lookup, plus one more lookup for `prev` when
 * it stays runnable (preempted). A task that goes to sleep keeps a stale
 * timestamp, but the wake-up that must come before it runs again replaces it.
 */
#include <schedfleet/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

/* The filter, documented in intf.h; 0 records every task. */
const volatile u64 target_cgid = 0;
const volatile u32 target_level = 0;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, u64);
} wakelat_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct wakelat_hist);
} wakelat_hist SEC(".maps");

/*
 * Kernels before 6.1 kept the ancestors' ids in `u64 ancestor_ids[]` instead
 * of pointers in `struct cgroup *ancestors[]`; CO-RE picks whichever the
 * running kernel has.
 */
struct cgroup___pre_6_1 {
	int level;
	u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/* Before 5.14 a task's state was `long state`, not `unsigned int __state`. */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

/*
 * The task switched out stays on the run queue: it was preempted, or it was
 * woken again before it could sleep (its state back to TASK_RUNNING, 0).
 */
static __always_inline bool stays_runnable(bool preempt, struct task_struct *prev)
{
	if (preempt)
		return true;
	if (bpf_core_field_exists(prev->__state))
		return BPF_CORE_READ(prev, __state) == 0;
	return BPF_CORE_READ((struct task_struct___pre_5_14 *)prev, state) == 0;
}

/* floor(log2(v)) for v > 0, without loops (the verifier prefers that). */
static __always_inline u32 log2_u32(u32 v)
{
	u32 r, shift;

	r = (v > 0xffff) << 4;
	v >>= r;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (v >> 1);
}

/* The bucket of a latency, as intf.h describes it. */
static __always_inline u32 wakelat_bucket(u64 ns)
{
	u64 us = ns / 1000;
	u32 e;

	if (us < WAKELAT_SUB_BUCKETS)
		return us;
	if (us >= (1ULL << WAKELAT_MAX_LOG2))
		return WAKELAT_NR_BUCKETS - 1;
	e = log2_u32(us);
	return WAKELAT_SUB_BUCKETS + (e - WAKELAT_SUB_BITS) * WAKELAT_SUB_BUCKETS +
	       ((us >> (e - WAKELAT_SUB_BITS)) & (WAKELAT_SUB_BUCKETS - 1));
}

/* The task's cgroup v2 is the target cgroup or below it. */
static __always_inline bool in_target_cgroup(struct task_struct *p)
{
	struct cgroup *cgrp = BPF_CORE_READ(p, cgroups, dfl_cgrp);
	struct cgroup *ancestor = NULL;
	int level;

	if (!cgrp)
		return false;
	level = BPF_CORE_READ(cgrp, level);
	if (level < (int)target_level)
		return false;
	if (bpf_core_field_exists(cgrp->ancestors)) {
		/* ancestors[i] is the ancestor at level i; the cgroup itself at its own level. */
		bpf_core_read(&ancestor, sizeof(ancestor), &cgrp->ancestors[target_level]);
		return ancestor && BPF_CORE_READ(ancestor, kn, id) == target_cgid;
	} else {
		struct cgroup___pre_6_1 *old = (void *)cgrp;
		u64 id = 0;

		bpf_core_read(&id, sizeof(id), &old->ancestor_ids[target_level]);
		return id == target_cgid;
	}
}

static __always_inline int record_wakeup(struct task_struct *p)
{
	u64 *start;

	/* pid 0 is a CPU's idle task, which is never "woken". */
	if (!p->pid)
		return 0;
	if (target_cgid && !in_target_cgroup(p))
		return 0;
	start = bpf_task_storage_get(&wakelat_start, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (start)
		*start = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakelat_wakeup, struct task_struct *p)
{
	return record_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakelat_wakeup_new, struct task_struct *p)
{
	return record_wakeup(p);
}

/*
 * The tracepoint has a fourth argument (prev_state) since 5.18; it is not
 * needed, and leaving it out keeps the program loadable on older kernels.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(wakelat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct wakelat_hist *hist;
	u64 *start, delta, now;
	u32 zero = 0, bucket;

	if (stays_runnable(preempt, prev)) {
		start = bpf_task_storage_get(&wakelat_start, prev, 0, 0);
		if (start)
			*start = 0;
	}

	start = bpf_task_storage_get(&wakelat_start, next, 0, 0);
	if (!start || !*start)
		return 0;
	now = bpf_ktime_get_ns();
	delta = now - *start;
	*start = 0;
	if ((s64)delta < 0)
		return 0;

	hist = bpf_map_lookup_elem(&wakelat_hist, &zero);
	if (!hist)
		return 0;
	bucket = wakelat_bucket(delta);
	if (bucket >= WAKELAT_NR_BUCKETS)
		bucket = WAKELAT_NR_BUCKETS - 1;
	hist->buckets[bucket]++;
	hist->count++;
	hist->sum_ns += delta;
	if (delta > hist->max_ns)
		hist->max_ns = delta;
	return 0;
}
