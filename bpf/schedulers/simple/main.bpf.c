/* SPDX-License-Identifier: GPL-2.0 */
/*
 * simple: one queue shared by all CPUs, ordered by weighted virtual time.
 *
 * Every task carries a virtual time (p->scx.dsq_vtime) that grows while it
 * runs, by the time it used scaled inversely to its weight: a nice-0 task
 * (weight 100) is charged its real runtime, a task with twice the weight half
 * of it. The queue always hands out the task with the smallest virtual time,
 * so over time CPU shares follow the weights, not the order of arrival.
 *
 * A task that sleeps stops accumulating virtual time. Left alone it would
 * wake far behind everyone else and monopolise the CPUs until it caught up,
 * so a waking task's virtual time is clamped to at most one slice behind the
 * global clock (vtime_now): sleepers get a small, bounded boost and no more.
 *
 * A single queue keeps the scheduler short and easy to reason about, which is
 * what a fleet-wide default wants; the price is lock contention on machines
 * with many CPUs and no cache-topology awareness beyond what the kernel's
 * default idle-CPU selection provides.
 */
#include <schedfleet/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

/*
 * Load-time parameters, documented with their units and bounds in intf.h.
 * They are `const volatile` so that clang keeps them in .rodata and does not
 * fold the defaults into the code: the loader writes the configured values
 * before load, and only then does the verifier see them as constants.
 */
const volatile u64 slice_ns = SIMPLE_SLICE_NS_DEFAULT;

/*
 * The global virtual clock: the largest virtual time of any task that has
 * started running. It only moves forward. Updates from several CPUs race
 * without a lock; a lost update leaves the clock slightly behind for one
 * scheduling event, which only makes the sleeper clamp a little more lenient,
 * so the cost of atomics is not worth paying here. It is a plain global, in
 * .bss, so that userspace can read it when debugging.
 */
u64 vtime_now;

SF_DECLARE_EXIT_INFO;

s32 BPF_STRUCT_OPS(simple_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	/*
	 * The kernel's default policy prefers the previous CPU while it is
	 * idle and otherwise looks for an idle CPU close to it. When it finds
	 * one, ordering does not matter (nobody is waiting for that CPU), so
	 * the task goes straight onto that CPU's local queue and skips
	 * ops.enqueue and the shared queue's lock.
	 */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle)
		sf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);

	return cpu;
}

void BPF_STRUCT_OPS(simple_enqueue, struct task_struct *p, u64 enq_flags)
{
	/*
	 * Unsigned wrap-around is intended: right after load vtime_now is 0,
	 * the floor is "negative", and sf_vtime_before compares the
	 * difference as signed, so nothing is clamped then.
	 */
	u64 floor = vtime_now - slice_ns;
	u64 vtime = p->scx.dsq_vtime;
	s32 cpu;

	if (sf_vtime_before(vtime, floor))
		vtime = floor;

	/*
	 * The kernel stores @vtime back into p->scx.dsq_vtime, so the clamp
	 * sticks and the charge in ops.stopping starts from it.
	 */
	sf_dsq_insert_vtime(p, SIMPLE_SHARED_DSQ, slice_ns, vtime, enq_flags);

	/*
	 * Tasks reach this point without an idle CPU having been picked for
	 * them: either ops.select_cpu found none, or it was skipped (a task
	 * pinned to one CPU, a task re-queued after its slice ran out). An
	 * idle CPU only looks at the shared queue when something wakes it, so
	 * wake one that may run this task; picking it also claims it, so two
	 * concurrent enqueues do not both kick the same CPU. When every CPU
	 * is busy this costs one scan of the idle mask and nothing else.
	 * (compat.bpf.h says which kfunc does the picking on which kernel.)
	 */
	cpu = sf_pick_idle_cpu(p);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

void BPF_STRUCT_OPS(simple_dispatch, s32 cpu, struct task_struct *prev)
{
	/*
	 * Called when this CPU's local queue is empty: move the task with the
	 * smallest virtual time over. If the shared queue is empty too and
	 * @prev still wants to run, the kernel keeps running @prev.
	 */
	sf_dsq_move_to_local(SIMPLE_SHARED_DSQ);
}

void BPF_STRUCT_OPS(simple_running, struct task_struct *p)
{
	/*
	 * The task picked to run is, give or take concurrent CPUs, the one
	 * furthest behind, so its virtual time is where the clock stands.
	 * Tasks placed directly on an idle CPU may carry an old, smaller
	 * value; the comparison keeps the clock from moving backwards.
	 */
	if (sf_vtime_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;
}

void BPF_STRUCT_OPS(simple_stopping, struct task_struct *p, bool runnable)
{
	u64 left = p->scx.slice;
	u64 used;

	/*
	 * The kernel counts p->scx.slice down while the task runs, so the
	 * time used is what was granted minus what is left. A task that
	 * yields has its slice zeroed and is charged a full slice, which is
	 * the intended penalty for giving the CPU away and coming straight
	 * back. The remainder can exceed slice_ns only when the kernel
	 * refilled the slice itself (it grants SCX_SLICE_DFL to a task it
	 * keeps running when nothing else is queued); unsigned subtraction
	 * would then charge an enormous time, so such a stretch is charged
	 * nothing instead.
	 */
	used = left < slice_ns ? slice_ns - left : 0;

	/*
	 * Weights range from 1 to 10000 with 100 for nice 0, so the charge is
	 * the runtime scaled by 100 / weight. The kernel never reports a
	 * weight of 0. The setter kfunc, rather than a store to
	 * p->scx.dsq_vtime, is the interface the kernel asks for since it
	 * gained nested schedulers (it checks the caller owns the task).
	 */
	sf_task_set_dsq_vtime(p, p->scx.dsq_vtime + used * 100 / p->scx.weight);
}

void BPF_STRUCT_OPS(simple_enable, struct task_struct *p)
{
	/*
	 * A task joining the scheduler (at load, or when forked) starts level
	 * with the clock: starting at 0 would let it run ahead of everyone
	 * for as long as the scheduler has been up.
	 */
	sf_task_set_dsq_vtime(p, vtime_now);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(simple_init)
{
	/*
	 * The loader validates parameters too, but the object may be loaded
	 * by other tools; a zero slice in particular would mean "keep the
	 * current slice" to the kernel and the scheduler would misbehave
	 * instead of failing. Refuse to start, with the value in the
	 * scheduler's exit message.
	 */
	if (slice_ns < SIMPLE_SLICE_NS_MIN || slice_ns > SIMPLE_SLICE_NS_MAX) {
		sf_error("simple: slice_ns %llu ns is outside [%llu, %llu]",
			 slice_ns, SIMPLE_SLICE_NS_MIN, SIMPLE_SLICE_NS_MAX);
		return -EINVAL;
	}

	/* -1 is NUMA_NO_NODE: the queue is shared by CPUs of every node. */
	return scx_bpf_create_dsq(SIMPLE_SHARED_DSQ, -1);
}

void BPF_STRUCT_OPS(simple_exit, struct scx_exit_info *ei)
{
	SF_RECORD_EXIT(ei);
}

/*
 * The ops table goes in .struct_ops.link so that libbpf creates the
 * struct_ops map with BPF_F_LINK and attaches it through a BPF link. The
 * agent pins that link in bpffs; the scheduler then stays loaded after the
 * agent exits, and removing the pin is how a rollout takes it back.
 */
SEC(".struct_ops.link")
struct sched_ext_ops simple_ops = {
	.select_cpu = (void *)simple_select_cpu,
	.enqueue = (void *)simple_enqueue,
	.dispatch = (void *)simple_dispatch,
	.running = (void *)simple_running,
	.stopping = (void *)simple_stopping,
	.enable = (void *)simple_enable,
	.init = (void *)simple_init,
	.exit = (void *)simple_exit,
	.name = "simple",
};
