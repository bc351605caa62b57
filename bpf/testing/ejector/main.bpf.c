/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ejector: a scheduler that loads, enables and schedules correctly, then
 * raises a scheduler error after a while, so that the kernel ejects it at run
 * time. Tests use it to check what a host reports after an ejection (the
 * kernel log line, `status`'s last_ejection, a dead pin) without waiting for
 * the stall watchdog. It is never offered as a builtin.
 *
 * Scheduling is a plain global FIFO: every task goes through the kernel's
 * built-in global queue. ops.init notes the time it ran; the first dispatch or
 * tick on any CPU that finds eject_after_ns elapsed raises the error. Both
 * ops run often on a busy or idle machine (an idle CPU dispatches when woken),
 * so the ejection follows the deadline closely. The kernel unloads the
 * scheduler from a worker and puts every task back on its default scheduler;
 * scx_bpf_error() from several CPUs at once is fine, the first one wins.
 */
#include <schedfleet/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* How long after ops.init the error is raised, in nanoseconds (1.5 s). */
const volatile u64 eject_after_ns = 1500000000ULL;

/* When ops.init ran (bpf_ktime_get_ns()); 0 until then. */
u64 enabled_at_ns;

SF_DECLARE_EXIT_INFO;

static __always_inline void eject_when_due(void)
{
	u64 start = enabled_at_ns, now = bpf_ktime_get_ns();

	if (start && now - start >= eject_after_ns)
		sf_error("ejector: deliberate error for tests, %llu ms after init",
			 (now - start) / 1000000);
}

void BPF_STRUCT_OPS(ejector_enqueue, struct task_struct *p, u64 enq_flags)
{
	sf_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(ejector_dispatch, s32 cpu, struct task_struct *prev)
{
	eject_when_due();
}

void BPF_STRUCT_OPS(ejector_tick, struct task_struct *p)
{
	eject_when_due();
}

s32 BPF_STRUCT_OPS_SLEEPABLE(ejector_init)
{
	enabled_at_ns = bpf_ktime_get_ns();
	return 0;
}

void BPF_STRUCT_OPS(ejector_exit, struct scx_exit_info *ei)
{
	SF_RECORD_EXIT(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops ejector_ops = {
	.enqueue = (void *)ejector_enqueue,
	.dispatch = (void *)ejector_dispatch,
	.tick = (void *)ejector_tick,
	.init = (void *)ejector_init,
	.exit = (void *)ejector_exit,
	.name = "ejector",
};
