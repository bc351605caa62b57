/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the `serve` scheduler shares with userspace: the bounds of its
 * integer parameters and the ids of its queues. Plain C, no kernel types.
 * Its list parameters (serving_cgroups, serving_comms, serving_cpus) are
 * typed by include/schedfleet/params.h.
 */
#ifndef SCHEDFLEET_SERVE_INTF_H
#define SCHEDFLEET_SERVE_INTF_H

/*
 * serving_slice_ns (u64, ns): the slice of a serving task, and of a batch
 * task that runs on a serving CPU (so that it gives the CPU back soon even
 * if no preemption reaches it). Serving tasks usually sleep long before it
 * runs out; a serving task that does not is put behind the other serving
 * tasks. [SERVE_SLICE_NS_MIN, SERVE_SLICE_NS_MAX].
 */
#define SERVE_SERVING_SLICE_NS_DEFAULT 2000000ULL /* 2 ms */

/*
 * batch_slice_ns (u64, ns): the slice of a batch task on the other CPUs.
 * Longer than the serving slice: batch work wants throughput, and a serving
 * task that wakes does not wait for it to run out (it preempts).
 * [SERVE_SLICE_NS_MIN, SERVE_SLICE_NS_MAX].
 */
#define SERVE_BATCH_SLICE_NS_DEFAULT 20000000ULL /* 20 ms */

#define SERVE_SLICE_NS_MIN 100000ULL /* 100 us */
#define SERVE_SLICE_NS_MAX 100000000ULL /* 100 ms */

/*
 * batch_max_wait_ns (u64, ns): the starvation bound. A CPU that has not run
 * a batch task for this long gives batch tasks a turn of batch_slice_ns: it
 * runs batch tasks ahead of waiting serving tasks, the one that has waited
 * longest first, each for at most serving_slice_ns (round robin), none of
 * them preempted, until the turn's time is used up or no batch task is
 * left. With serving tasks saturating every CPU, each
 * of C CPUs still gives a turn every batch_max_wait_ns, so the k-th oldest
 * waiting batch task runs within about ceil(k / C) * (batch_max_wait_ns +
 * batch_slice_ns): far below the kernel's stall watchdog (30 s) for any
 * realistic count; and serving tasks keep at least batch_max_wait_ns /
 * (batch_max_wait_ns + batch_slice_ns) of each CPU (5/6 with the
 * defaults). [SERVE_MAX_WAIT_NS_MIN, SERVE_MAX_WAIT_NS_MAX].
 */
#define SERVE_BATCH_MAX_WAIT_NS_DEFAULT 100000000ULL /* 100 ms */
#define SERVE_MAX_WAIT_NS_MIN 1000000ULL /* 1 ms */
#define SERVE_MAX_WAIT_NS_MAX 2000000000ULL /* 2 s */

/* The queue of waiting serving tasks (FIFO) and of batch tasks (vtime). */
#define SERVE_DSQ_SERVING 0ULL
#define SERVE_DSQ_BATCH 1ULL

#endif /* SCHEDFLEET_SERVE_INTF_H */
