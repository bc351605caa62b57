/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One object for every sched_ext kernel: the kfuncs whose name or signature
 * changed between releases, each behind one sf_* helper that picks, at load
 * time, the variant the running kernel has.
 *
 * The objects are compiled once, against one vmlinux.h (the newest lab
 * kernel's), and loaded on whatever kernel a host runs. Fleets run several
 * releases at once, and the scx kfunc set moves between them:
 *
 *   - 6.13 renamed scx_bpf_dispatch{,_vtime} to scx_bpf_dsq_insert{,_vtime}
 *     and scx_bpf_consume to scx_bpf_dsq_move_to_local;
 *   - 7.3 added scx_bpf_dsq_insert___v2 (says whether the task was inserted)
 *     and scx_bpf_dsq_move_to_local___v2 (takes enqueue flags), the forms
 *     the unversioned names are to be retired in favour of;
 *   - 7.2 does not offer scx_bpf_pick_idle_cpu as a kfunc at all (its BTF
 *     has a function of that name, with an extra implicit argument, but it
 *     is not in the sched_ext kfunc set), while 7.3 and earlier kernels do.
 *
 * How a variant is picked: every kfunc below is an `extern ... __ksym __weak`
 * declaration. libbpf resolves a weak kfunc against the kernel's BTF when the
 * kernel has a function of that name whose prototype is compatible with the
 * declaration, and otherwise leaves it at zero instead of failing the load.
 * bpf_ksym_exists() then reads as a constant to the verifier, which drops
 * the branch that calls the missing variant before it could reject it. A
 * prototype mismatch counts as missing, which is what keeps 7.2's
 * non-kfunc scx_bpf_pick_idle_cpu (three arguments) from being picked.
 *
 * Names: libbpf ignores a `___suffix` when it matches a declaration against
 * the kernel, so `scx_bpf_dispatch___compat` binds to the kernel's
 * `scx_bpf_dispatch`, and the 7.3 names that themselves end in `___v2` need
 * a second suffix (`scx_bpf_dsq_insert___v2___compat`): declared as
 * vmlinux.h spells them, they would bind to the unversioned function.
 *
 * What each helper does on a kernel that has none of its variants is said
 * next to it. Loading on each kernel of the lab's matrix (oldest and newest
 * sched_ext release the lab caches) is tested by the lab tests.
 */
#ifndef SCHEDFLEET_COMPAT_BPF_H
#define SCHEDFLEET_COMPAT_BPF_H

/* Kernels before 6.13. */
extern void scx_bpf_dispatch___compat(struct task_struct *p, u64 dsq_id, u64 slice,
				      u64 enq_flags) __ksym __weak;
extern void scx_bpf_dispatch_vtime___compat(struct task_struct *p, u64 dsq_id,
					    u64 slice, u64 vtime,
					    u64 enq_flags) __ksym __weak;
extern bool scx_bpf_consume___compat(u64 dsq_id) __ksym __weak;

/* Kernels from 7.3 on. */
extern bool scx_bpf_dsq_insert___v2___compat(struct task_struct *p, u64 dsq_id,
					     u64 slice, u64 enq_flags) __ksym __weak;
extern bool scx_bpf_dsq_move_to_local___v2___compat(u64 dsq_id,
						    u64 enq_flags) __ksym __weak;

/*
 * Inserts @p into @dsq_id with @slice. Every sched_ext kernel has one of the
 * three; the last branch is what the oldest ones run.
 */
static __always_inline void sf_dsq_insert(struct task_struct *p, u64 dsq_id,
					  u64 slice, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert___v2___compat))
		scx_bpf_dsq_insert___v2___compat(p, dsq_id, slice, enq_flags);
	else if (bpf_ksym_exists(scx_bpf_dsq_insert))
		scx_bpf_dsq_insert(p, dsq_id, slice, enq_flags);
	else
		scx_bpf_dispatch___compat(p, dsq_id, slice, enq_flags);
}

/* Inserts @p into the user DSQ @dsq_id, ordered by @vtime. */
static __always_inline void sf_dsq_insert_vtime(struct task_struct *p,
						u64 dsq_id, u64 slice,
						u64 vtime, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert_vtime))
		scx_bpf_dsq_insert_vtime(p, dsq_id, slice, vtime, enq_flags);
	else
		scx_bpf_dispatch_vtime___compat(p, dsq_id, slice, vtime,
						enq_flags);
}

/*
 * Moves the first task of @dsq_id to the dispatching CPU's local DSQ; false
 * when @dsq_id was empty. Only in ops.dispatch.
 */
static __always_inline bool sf_dsq_move_to_local(u64 dsq_id)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local___v2___compat))
		return scx_bpf_dsq_move_to_local___v2___compat(dsq_id, 0);
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq_id);
	return scx_bpf_consume___compat(dsq_id);
}

/*
 * Finds an idle CPU that @p may run on and claims it (clears its idle bit,
 * so that two callers do not both get it); a negative value when every
 * allowed CPU is busy. Where scx_bpf_pick_idle_cpu is not a kfunc (7.2),
 * scx_bpf_select_cpu_and does the same search, starting from the CPU @p
 * last ran on. A kernel with neither would leave idle CPUs asleep while
 * tasks wait, so there the scheduler raises an error at its first enqueue
 * and the kernel unloads it, saying why (the branch costs nothing where it
 * is dead: the verifier drops it).
 */
static __always_inline s32 sf_pick_idle_cpu(struct task_struct *p)
{
	if (bpf_ksym_exists(scx_bpf_pick_idle_cpu))
		return scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (bpf_ksym_exists(scx_bpf_select_cpu_and))
		return scx_bpf_select_cpu_and(p, scx_bpf_task_cpu(p), 0,
					      p->cpus_ptr, 0);
	sf_error("no kfunc picks an idle CPU on this kernel (neither scx_bpf_pick_idle_cpu nor scx_bpf_select_cpu_and): errno %llu",
		 (u64)ENOSYS);
	return -ENOSYS;
}

/*
 * Sets @p's virtual time. Kernels with nested schedulers want the kfunc
 * (it checks the caller owns the task); older ones let ops write the field.
 */
static __always_inline void sf_task_set_dsq_vtime(struct task_struct *p,
						  u64 vtime)
{
	if (bpf_ksym_exists(scx_bpf_task_set_dsq_vtime))
		scx_bpf_task_set_dsq_vtime(p, vtime);
	else
		p->scx.dsq_vtime = vtime;
}

/*
 * Sets what is left of @p's slice. Kernels with nested schedulers want the
 * kfunc; older ones let ops write the field.
 */
static __always_inline void sf_task_set_slice(struct task_struct *p, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_task_set_slice))
		scx_bpf_task_set_slice(p, slice);
	else
		p->scx.slice = slice;
}

#endif /* SCHEDFLEET_COMPAT_BPF_H */
