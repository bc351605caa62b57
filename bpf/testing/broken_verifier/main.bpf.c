/* SPDX-License-Identifier: GPL-2.0 */
/*
 * broken_verifier: a scheduler that compiles cleanly but that the kernel's
 * verifier must reject, so that tests can check how the agent and the CLI
 * report a failed load (the verifier log, the exit status, nothing left
 * attached). It is never offered as a builtin.
 *
 * Why the verifier rejects it: bpf_map_lookup_elem() returns NULL when the
 * key is absent, so the verifier types its result as
 * "map_value_or_null". The enqueue op below dereferences that result without
 * comparing it with NULL first, and the verifier refuses any load through a
 * pointer that may be NULL ("R<n> invalid mem access 'map_value_or_null'").
 * A hash map is used on purpose: recent kernels prove array lookups with a
 * constant, in-range key non-NULL, which would make the same mistake on an
 * array map pass. Clang cannot see the bug (the helper's result is opaque to
 * it), so the object builds without warnings.
 */
#include <schedfleet/common.bpf.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, s32);
	__type(value, u64);
} slice_by_pid SEC(".maps");

void BPF_STRUCT_OPS(broken_verifier_enqueue, struct task_struct *p,
		    u64 enq_flags)
{
	s32 pid = p->pid;
	u64 *slice = bpf_map_lookup_elem(&slice_by_pid, &pid);

	/* The deliberate bug: `slice` is used without `if (!slice)`. */
	scx_bpf_dsq_insert(p, SCX_DSQ_GLOBAL, *slice, enq_flags);
}

/*
 * The op must be referenced from the ops table: libbpf only loads (and so
 * only submits to the verifier) struct_ops programs that a map uses.
 */
SEC(".struct_ops.link")
struct sched_ext_ops broken_verifier_ops = {
	.enqueue = (void *)broken_verifier_enqueue,
	.name = "broken_verifier",
};
