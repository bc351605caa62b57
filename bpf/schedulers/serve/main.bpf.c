/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve: request-serving tasks first, batch work in what is left.
 *
 * Made for inference hosts, where the threads that serve requests (API
 * server, tokenizer, the thread that feeds the GPU) must run the moment they
 * wake even while batch work (data loading, compilation, logging) keeps every
 * CPU busy. Tasks fall in two classes:
 *
 *   - serving: the task's cgroup is, or is below, one of `serving_cgroups`,
 *     or its command name starts with one of `serving_comms`. Serving tasks
 *     wait in a FIFO queue that every CPU looks at before the batch queue.
 *     A waking serving task goes to an idle CPU, trying the `serving_cpus`
 *     first; when no CPU is idle it queues and preempts one batch task: the
 *     one that has run longest on its CPU, on a serving CPU if any runs one
 *     there (scx_lavd also picks a victim rather than CPU 0; see
 *     pick_victim).
 *   - batch: everything else, ordered by weighted virtual time like
 *     `simple`, with a longer slice. Batch tasks may run on the serving CPUs
 *     while no serving task wants them (with the serving slice there).
 *
 * Starvation: serving tasks come first, but a CPU that has not run a batch
 * task for `batch_max_wait_ns` gives batch tasks a turn of `batch_slice_ns`
 * (longest waiting first, none of them preempted); see intf.h for the bound
 * this gives and move_longest_waiting_batch for why waiting order and not
 * virtual time. The kernel's stall watchdog (30 s) is never approached.
 *
 * Design anchors: scx_layered (classes matched by cgroup and comm, a
 * preempting class), scx_bpfland (vruntime with bounded sleeper credit),
 * scx_lavd (preempting a chosen victim with an IPI). This keeps to two
 * classes and two queues, which is what the use case needs and what can be
 * reasoned about.
 */
#include <schedfleet/common.bpf.h>
#include <schedfleet/params.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

/*
 * Load-time parameters (see intf.h and params.h). The list parameters are
 * all zero by default: no serving set, no serving CPUs, in which case every
 * task is batch and serve behaves like simple with a longer slice.
 */
const volatile struct sf_cgroup_ids serving_cgroups;
const volatile struct sf_comm_prefixes serving_comms;
const volatile struct sf_cpumask serving_cpus;
const volatile u64 serving_slice_ns = SERVE_SERVING_SLICE_NS_DEFAULT;
const volatile u64 batch_slice_ns = SERVE_BATCH_SLICE_NS_DEFAULT;
const volatile u64 batch_max_wait_ns = SERVE_BATCH_MAX_WAIT_NS_DEFAULT;

/* Deepest cgroup nesting searched for a serving ancestor. */
#define SERVE_MAX_CGROUP_DEPTH 32

/*
 * Counters for people and benchmarks reading .bss; updated without atomics
 * where a lost increment does not matter.
 */
u64 nr_serving_direct; /* serving wake-ups placed straight on an idle CPU */
u64 nr_serving_queued; /* serving tasks put in the serving queue */
u64 nr_preempt_kicks; /* batch tasks preempted for a waking serving task */
u64 nr_batch_turns; /* turns given to batch tasks ahead of serving ones (starvation bound) */

/* The batch class's virtual clock, as in simple. */
u64 vtime_now;

/* The serving CPUs as a list of ids, built in ops.init from serving_cpus. */
u32 serving_cpu_ids[SF_CPUMASK_MAX_CPUS];
u32 nr_serving_cpu_ids;

enum serve_cpu_running {
	SERVE_CPU_IDLE = 0,
	SERVE_CPU_BATCH = 1,
	SERVE_CPU_SERVING = 2,
};

/*
 * What each CPU runs, written by that CPU in ops.running/ops.stopping and
 * read by the others when they look for a victim. A reader may see a stale
 * entry; the worst outcome is a preemption kick that finds a serving task
 * (the kernel then only reschedules it) or one that is skipped.
 */
struct cpu_ctx {
	u64 started_ns; /* when the current task started running */
	u64 batch_last_ns; /* when this CPU last started a batch task */
	u64 turn_end_ns; /* a batch turn runs batch tasks here until then */
	u32 running; /* enum serve_cpu_running */
	u32 preempt_pending; /* a kick is on its way: do not pick again */
	u32 guard_next; /* the task dispatched next runs in a batch turn */
	u32 guarded; /* the current task runs in a batch turn: never a victim */
};

struct cpu_ctx cpu_ctxs[SF_CPUMASK_MAX_CPUS];

/* Per task: its class, from the last wake-up or enqueue. */
struct task_ctx {
	u64 started_ns; /* when it last started running */
	u64 queued_ns; /* when it last entered the batch queue */
	bool serving;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

SF_DECLARE_EXIT_INFO;

/*
 * Index @i into an array of @n (a power of two) entries, in a form the
 * verifier can follow. A plain `i < n` check is not enough: clang may test
 * a copy of the register (as `(i & ~(n - 1)) == 0`) and index with the
 * original, whose range the verifier then does not know. The empty asm
 * makes clang forget what it knows about @i, so the mask is kept, and the
 * mask is what bounds the index for the verifier.
 */
#define SERVE_INDEX(i, n)                                                      \
	({                                                                     \
		u32 ___i = (i);                                                \
		asm volatile("" : "+r"(___i));                                 \
		___i & ((n) - 1);                                              \
	})

static __always_inline struct cpu_ctx *cpu_ctx_of(s32 cpu)
{
	if ((u32)cpu >= SF_CPUMASK_MAX_CPUS)
		return NULL;
	return &cpu_ctxs[SERVE_INDEX(cpu, SF_CPUMASK_MAX_CPUS)];
}

static __always_inline bool is_serving_cpu(s32 cpu)
{
	u32 i;

	if ((u32)cpu >= SF_CPUMASK_MAX_CPUS)
		return false;
	i = SERVE_INDEX(cpu, SF_CPUMASK_MAX_CPUS);
	return serving_cpus.bits[i / 64] & (1ULL << (i % 64));
}

/* The task's command name starts with one of serving_comms. */
static bool comm_is_serving(struct task_struct *p)
{
	char comm[SF_COMM_LEN];
	int i, j;

	if (!serving_comms.prefix[0][0])
		return false;
	if (bpf_probe_read_kernel(comm, sizeof(comm), p->comm))
		return false;
	for (i = 0; i < SF_COMM_PREFIXES_MAX; i++) {
		bool match = true;

		if (!serving_comms.prefix[i][0])
			break;
		for (j = 0; j < SF_COMM_LEN; j++) {
			char c = serving_comms.prefix[i][j];

			if (!c)
				break;
			if (c != comm[j]) {
				match = false;
				break;
			}
		}
		if (match)
			return true;
	}
	return false;
}

static __always_inline bool is_serving_cgroup_id(u64 id)
{
	int i;

	for (i = 0; i < SF_CGROUP_IDS_MAX; i++) {
		u64 want = serving_cgroups.ids[i];

		if (!want)
			return false;
		if (want == id)
			return true;
	}
	return false;
}

/*
 * The task's cgroup (default hierarchy) is a serving cgroup or below one.
 * The walk reads kernel memory with CO-RE probe reads; it climbs at most
 * SERVE_MAX_CGROUP_DEPTH levels (the kernel's default limit is unbounded
 * but real hierarchies are a handful deep).
 */
static bool cgroup_is_serving(struct task_struct *p)
{
	struct cgroup *cgrp;
	int depth;

	if (!serving_cgroups.ids[0])
		return false;
	cgrp = BPF_CORE_READ(p, cgroups, dfl_cgrp);
	for (depth = 0; depth < SERVE_MAX_CGROUP_DEPTH && cgrp; depth++) {
		if (is_serving_cgroup_id(BPF_CORE_READ(cgrp, kn, id)))
			return true;
		/* `self` is the first member: its parent css is the parent cgroup. */
		cgrp = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
	}
	return false;
}

/*
 * Classifies @p now (its cgroup or comm may have changed since it last
 * ran) and remembers the class for ops.running and ops.stopping.
 */
static struct task_ctx *classify(struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	if (!tctx)
		return NULL;
	tctx->serving = cgroup_is_serving(p) || comm_is_serving(p);
	return tctx;
}

/* The class @p had when it was last classified (batch when unknown). */
static __always_inline bool task_is_serving(struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);

	return tctx && tctx->serving;
}

/*
 * Claims an idle serving CPU that @p may run on: @prev_cpu first (its cache
 * is warm), then the others in order. Negative when none is idle.
 */
static s32 pick_idle_serving_cpu(struct task_struct *p, s32 prev_cpu)
{
	s32 n = nr_serving_cpu_ids;
	int i;

	if (!n)
		return -1;
	if (is_serving_cpu(prev_cpu) && bpf_cpumask_test_cpu(prev_cpu, p->cpus_ptr) &&
	    scx_bpf_test_and_clear_cpu_idle(prev_cpu))
		return prev_cpu;
	bpf_for(i, 0, n) {
		s32 cpu;

		if ((u32)i >= SF_CPUMASK_MAX_CPUS)
			break;
		cpu = serving_cpu_ids[SERVE_INDEX(i, SF_CPUMASK_MAX_CPUS)];
		if (cpu != prev_cpu && bpf_cpumask_test_cpu(cpu, p->cpus_ptr) &&
		    scx_bpf_test_and_clear_cpu_idle(cpu))
			return cpu;
	}
	return -1;
}

/*
 * The CPU whose batch task a waking serving task @p should preempt: among
 * the CPUs @p may run on that run a batch task (not a guarded batch turn,
 * not already being kicked), the one on a serving CPU first, then the one
 * whose task has run longest (it has had the most of its slice, and a long
 * run says it is not interactive). The pick is claimed with a
 * compare-and-swap so that two serving tasks waking at once preempt two
 * CPUs, not the same one twice. Negative when every candidate CPU runs a
 * serving task or a batch turn: then @p waits in the serving queue, which
 * every CPU reads first.
 *
 * Cost: one pass over the CPU ids, only when a serving task wakes and no
 * CPU is idle.
 */
static s32 pick_victim(struct task_struct *p)
{
	u64 now = bpf_ktime_get_ns(), best_score = 0;
	s32 nr = scx_bpf_nr_cpu_ids();
	s32 best = -1;
	int cpu;

	bpf_for(cpu, 0, nr) {
		struct cpu_ctx *c = cpu_ctx_of(cpu);
		u64 score;

		if (!c)
			break;
		if (c->running != SERVE_CPU_BATCH || c->guarded || c->preempt_pending)
			continue;
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		/* Ran for: 1 ns at least, so that any candidate beats none. */
		score = sf_vtime_before(c->started_ns, now) ? now - c->started_ns : 1;
		if (is_serving_cpu(cpu))
			score += 1ULL << 62;
		if (score > best_score) {
			best_score = score;
			best = cpu;
		}
	}
	if (best >= 0) {
		struct cpu_ctx *c = cpu_ctx_of(best);

		if (!c || __sync_val_compare_and_swap(&c->preempt_pending, 0, 1) != 0)
			return -1;
	}
	return best;
}

s32 BPF_STRUCT_OPS(serve_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	struct task_ctx *tctx = classify(p);
	bool serving = tctx && tctx->serving;
	bool is_idle = false;
	s32 cpu;

	if (serving) {
		cpu = pick_idle_serving_cpu(p, prev_cpu);
		if (cpu >= 0) {
			sf_dsq_insert(p, SCX_DSQ_LOCAL, serving_slice_ns, 0);
			__sync_fetch_and_add(&nr_serving_direct, 1);
			return cpu;
		}
	}

	/* Any idle CPU, the kernel's way: prev_cpu, then close to it. */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		u64 slice = serving || is_serving_cpu(cpu) ? serving_slice_ns :
							     batch_slice_ns;

		sf_dsq_insert(p, SCX_DSQ_LOCAL, slice, 0);
		if (serving)
			__sync_fetch_and_add(&nr_serving_direct, 1);
	}
	return cpu;
}

static void enqueue_serving(struct task_struct *p, u64 enq_flags)
{
	s32 cpu;

	sf_dsq_insert(p, SERVE_DSQ_SERVING, serving_slice_ns, enq_flags);
	__sync_fetch_and_add(&nr_serving_queued, 1);

	cpu = pick_idle_serving_cpu(p, scx_bpf_task_cpu(p));
	if (cpu < 0)
		cpu = sf_pick_idle_cpu(p);
	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}
	/*
	 * A wake-up preempts, and so does a new task (the kernel does not
	 * flag its first enqueue as a wake-up; it still has a full slice). A
	 * serving task whose slice ran out does not: it is re-queued from the
	 * CPU that ran it, and that CPU reads the serving queue first anyway.
	 */
	if (!(enq_flags & SCX_ENQ_WAKEUP) && !p->scx.slice)
		return;
	cpu = pick_victim(p);
	if (cpu >= 0) {
		scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
		__sync_fetch_and_add(&nr_preempt_kicks, 1);
	}
}

static void enqueue_batch(struct task_struct *p, struct task_ctx *tctx,
			  u64 enq_flags)
{
	/* As in simple: sleepers keep at most one slice of credit. */
	u64 floor = vtime_now - batch_slice_ns;
	u64 vtime = p->scx.dsq_vtime;
	s32 cpu;

	if (sf_vtime_before(vtime, floor))
		vtime = floor;
	if (tctx)
		tctx->queued_ns = bpf_ktime_get_ns();
	sf_dsq_insert_vtime(p, SERVE_DSQ_BATCH, batch_slice_ns, vtime, enq_flags);

	cpu = sf_pick_idle_cpu(p);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

void BPF_STRUCT_OPS(serve_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = classify(p);

	if (tctx && tctx->serving)
		enqueue_serving(p, enq_flags);
	else
		enqueue_batch(p, tctx, enq_flags);
}

/* The iterator bpf_for_each() declares, for the kfuncs that take it. */
#define SERVE_FOR_EACH_ITER (&___it)

/* Batch tasks a batch turn looks at, at most (the queue's first ones). */
#define SERVE_TURN_SCAN_MAX 1024

/*
 * @p may be moved to @cpu's local queue now: @cpu is in its affinity, and
 * it is not pinned to another CPU for a while (migrate_disable(); the
 * kernel would put it in the global queue instead).
 */
static __always_inline bool can_run_on(struct task_struct *p, s32 cpu)
{
	if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
		return false;
	return !BPF_CORE_READ(p, migration_disabled) || scx_bpf_task_cpu(p) == cpu;
}

/*
 * In a batch turn: moves the batch task that has waited longest of those
 * that may run on @cpu to its local queue. Not the one with the smallest
 * virtual time: the turn exists to bound how long any batch task waits, and
 * by virtual time a task that ran recently (a CPU hog, or a kernel thread
 * preempted in an RCU read-side section) loses every turn to tasks that
 * keep waking with the sleepers' credit, for as long as they keep waking
 * (the kernel then reports an RCU stall and disables the scheduler). In
 * wait order, the k-th oldest waiter runs within about ceil(k / C) turns.
 *
 * Two passes over the queue (the first finds the oldest, the second moves
 * it), per task run in a turn, and only while serving tasks keep the CPUs.
 * Kernels without the DSQ iterator (before 6.12) or scx_bpf_dsq_move
 * (before 6.13) take the queue's first task.
 */
static bool move_longest_waiting_batch(s32 cpu)
{
	struct task_struct *p;
	u64 oldest_ns = 0;
	s32 oldest_pid = -1;
	u32 seen = 0;

	if (!bpf_ksym_exists(bpf_iter_scx_dsq_new) || !bpf_ksym_exists(scx_bpf_dsq_move))
		return sf_dsq_move_to_local(SERVE_DSQ_BATCH);

	bpf_for_each(scx_dsq, p, SERVE_DSQ_BATCH, 0) {
		struct task_ctx *tctx;

		if (++seen > SERVE_TURN_SCAN_MAX)
			break;
		if (!can_run_on(p, cpu))
			continue;
		tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
		if (!tctx)
			continue;
		if (oldest_pid < 0 || sf_vtime_before(tctx->queued_ns, oldest_ns)) {
			oldest_ns = tctx->queued_ns;
			oldest_pid = p->pid;
		}
	}
	if (oldest_pid < 0)
		return false;
	seen = 0;
	bpf_for_each(scx_dsq, p, SERVE_DSQ_BATCH, 0) {
		if (++seen > SERVE_TURN_SCAN_MAX)
			break;
		if (p->pid == oldest_pid && can_run_on(p, cpu))
			return scx_bpf_dsq_move(SERVE_FOR_EACH_ITER, p, SCX_DSQ_LOCAL, 0);
	}
	/* It left the queue between the two passes: the first task, then. */
	return sf_dsq_move_to_local(SERVE_DSQ_BATCH);
}

void BPF_STRUCT_OPS(serve_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cpu_ctx *c = cpu_ctx_of(cpu);
	u64 now = bpf_ktime_get_ns();
	bool in_turn, starved;

	/*
	 * The starvation bound: a CPU that has not started a batch task for
	 * batch_max_wait_ns gives batch tasks a turn of batch_slice_ns. In
	 * the turn it runs batch tasks ahead of serving ones, the one that
	 * has waited longest first, each for at most the serving slice, until
	 * the turn's time is used up (the slices are cut to it in
	 * ops.running) or no batch task it may run is left. A turn of time
	 * rather than of one task: batch work that wakes often and runs
	 * briefly (sshd, a shell, kernel threads) gets through many tasks in
	 * one turn, not one per turn.
	 */
	in_turn = c && sf_vtime_before(now, c->turn_end_ns);
	starved = c && !in_turn &&
		  sf_vtime_before(c->batch_last_ns + batch_max_wait_ns, now);
	if ((in_turn || starved) && move_longest_waiting_batch(cpu)) {
		if (starved) {
			c->turn_end_ns = now + batch_slice_ns;
			__sync_fetch_and_add(&nr_batch_turns, 1);
		}
		c->guard_next = 1;
		return;
	}
	if (in_turn)
		c->turn_end_ns = now;
	if (sf_dsq_move_to_local(SERVE_DSQ_SERVING))
		return;
	/*
	 * The kernel calls ops.dispatch before it re-queues a @prev whose
	 * slice ran out, so a CPU-bound serving task is not in the serving
	 * queue yet: without this, every end of its slice would hand the CPU
	 * to a batch task. Give it another serving slice instead; the kernel
	 * keeps running it when nothing was dispatched.
	 */
	if (prev && (prev->scx.flags & SCX_TASK_QUEUED) && task_is_serving(prev)) {
		sf_task_set_slice(prev, serving_slice_ns);
		return;
	}
	sf_dsq_move_to_local(SERVE_DSQ_BATCH);
}

void BPF_STRUCT_OPS(serve_running, struct task_struct *p)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	struct cpu_ctx *c = cpu_ctx_of(scx_bpf_task_cpu(p));
	bool serving = tctx && tctx->serving;
	u64 now = bpf_ktime_get_ns();

	if (tctx)
		tctx->started_ns = now;
	if (c) {
		c->started_ns = now;
		c->running = serving ? SERVE_CPU_SERVING : SERVE_CPU_BATCH;
		c->preempt_pending = 0;
		/*
		 * A task of a batch turn is one the dispatch above moved here;
		 * any other task (placed directly by select_cpu) is not guarded.
		 */
		c->guarded = !serving && c->guard_next;
		c->guard_next = 0;
		/*
		 * A batch task from the batch queue carries the batch slice. In
		 * a turn it gets the serving slice at most, so that the turn's
		 * tasks take turns (round robin in waiting order: one that used
		 * its slice queues again behind the others) and a CPU hog does
		 * not keep a task that runs briefly waiting for the next turn;
		 * and no more than what is left of the turn (nor less than the
		 * shortest slice), so that the turn ends on time. Outside a
		 * turn, on a serving CPU, it gets the serving slice, so that
		 * the CPU comes back soon even if no preemption reaches it.
		 */
		if (c->guarded) {
			u64 left = sf_vtime_before(now, c->turn_end_ns) ?
					   c->turn_end_ns - now : 0;

			if (left > serving_slice_ns)
				left = serving_slice_ns;
			if (left < SERVE_SLICE_NS_MIN)
				left = SERVE_SLICE_NS_MIN;
			if (p->scx.slice > left)
				sf_task_set_slice(p, left);
		} else if (!serving && is_serving_cpu(scx_bpf_task_cpu(p)) &&
			   p->scx.slice > serving_slice_ns) {
			sf_task_set_slice(p, serving_slice_ns);
		}
		if (!serving)
			c->batch_last_ns = now;
	}
	if (!serving && sf_vtime_before(vtime_now, p->scx.dsq_vtime))
		vtime_now = p->scx.dsq_vtime;
}

void BPF_STRUCT_OPS(serve_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	struct cpu_ctx *c = cpu_ctx_of(scx_bpf_task_cpu(p));
	u64 now = bpf_ktime_get_ns(), used;

	if (c) {
		c->running = SERVE_CPU_IDLE;
		c->guarded = 0;
	}
	if (!tctx || tctx->serving)
		return;
	/*
	 * Batch tasks pay for the time they ran, scaled by 100 / weight. A
	 * task that was on a CPU when the scheduler was attached stops
	 * without ever having passed through ops.running: its started_ns is
	 * 0, and charging it "now - 0" (the host's uptime) would put it
	 * behind every other batch task for as long, starving it. Such a task,
	 * like any stop without its start, pays nothing.
	 */
	used = tctx->started_ns && sf_vtime_before(tctx->started_ns, now) ? now - tctx->started_ns : 0;
	tctx->started_ns = 0;
	sf_task_set_dsq_vtime(p, p->scx.dsq_vtime + used * 100 / p->scx.weight);
}

void BPF_STRUCT_OPS(serve_enable, struct task_struct *p)
{
	sf_task_set_dsq_vtime(p, vtime_now);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(serve_init_task, struct task_struct *p,
			     struct scx_init_task_args *args)
{
	if (!bpf_task_storage_get(&task_ctxs, p, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		return -ENOMEM;
	return 0;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(serve_init)
{
	s32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 ret;
	int cpu;
	u32 n;

	/*
	 * The loader checks these too, but the object may be loaded by other
	 * tools: refuse to start, with the value in the exit message, rather
	 * than run with a slice of 0 (which means "keep the current one").
	 */
	if (serving_slice_ns < SERVE_SLICE_NS_MIN ||
	    serving_slice_ns > SERVE_SLICE_NS_MAX) {
		sf_error("serving_slice_ns %llu ns is outside [%llu, %llu]",
			 serving_slice_ns, SERVE_SLICE_NS_MIN, SERVE_SLICE_NS_MAX);
		return -EINVAL;
	}
	if (batch_slice_ns < SERVE_SLICE_NS_MIN ||
	    batch_slice_ns > SERVE_SLICE_NS_MAX) {
		sf_error("batch_slice_ns %llu ns is outside [%llu, %llu]",
			 batch_slice_ns, SERVE_SLICE_NS_MIN, SERVE_SLICE_NS_MAX);
		return -EINVAL;
	}
	if (batch_max_wait_ns < SERVE_MAX_WAIT_NS_MIN ||
	    batch_max_wait_ns > SERVE_MAX_WAIT_NS_MAX) {
		sf_error("batch_max_wait_ns %llu ns is outside [%llu, %llu]",
			 batch_max_wait_ns, SERVE_MAX_WAIT_NS_MIN,
			 SERVE_MAX_WAIT_NS_MAX);
		return -EINVAL;
	}

	/* The serving CPUs as a list; a CPU the kernel does not have is an error. */
	bpf_for(cpu, 0, SF_CPUMASK_MAX_CPUS) {
		if (!is_serving_cpu(cpu))
			continue;
		if (cpu >= nr_cpus) {
			sf_error("serving_cpus names CPU %llu, but this kernel has CPUs 0-%llu",
				 (u64)cpu, (u64)nr_cpus - 1);
			return -EINVAL;
		}
		n = nr_serving_cpu_ids;
		if (n < SF_CPUMASK_MAX_CPUS) {
			serving_cpu_ids[SERVE_INDEX(n, SF_CPUMASK_MAX_CPUS)] = cpu;
			nr_serving_cpu_ids = n + 1;
		}
	}

	/* -1 is NUMA_NO_NODE: the queues are shared by CPUs of every node. */
	ret = scx_bpf_create_dsq(SERVE_DSQ_SERVING, -1);
	if (ret)
		return ret;
	return scx_bpf_create_dsq(SERVE_DSQ_BATCH, -1);
}

void BPF_STRUCT_OPS(serve_exit, struct scx_exit_info *ei)
{
	SF_RECORD_EXIT(ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops serve_ops = {
	.select_cpu = (void *)serve_select_cpu,
	.enqueue = (void *)serve_enqueue,
	.dispatch = (void *)serve_dispatch,
	.running = (void *)serve_running,
	.stopping = (void *)serve_stopping,
	.enable = (void *)serve_enable,
	.init_task = (void *)serve_init_task,
	.init = (void *)serve_init,
	.exit = (void *)serve_exit,
	.name = "serve",
};
