/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the `simple` scheduler shares with userspace: the bounds of its load
 * time parameters and the id of its queue. Plain C with no kernel types, so
 * that userspace code and bindings can include it as well as the BPF side.
 *
 * Parameters live in the object's read-only data (.rodata) as
 * `const volatile` globals. The loader may overwrite them between opening the
 * object and loading it; after load the kernel freezes the map, and the
 * verifier treats the values as constants.
 */
#ifndef SCHEDFLEET_SIMPLE_INTF_H
#define SCHEDFLEET_SIMPLE_INTF_H

/*
 * slice_ns (u64, nanoseconds): how long a task may run before the kernel
 * takes the CPU back and the task rejoins the queue. It is also the most
 * virtual-time credit a task may keep across a sleep. Shorter slices lower
 * wake-up latency for interactive tasks and cost more context switches;
 * longer ones favour throughput. The BPF side refuses to start (ops.init
 * fails with a scheduler error naming the value) outside
 * [SIMPLE_SLICE_NS_MIN, SIMPLE_SLICE_NS_MAX]: below 100 us the scheduling
 * overhead dominates, and above 100 ms a CPU-bound task can hold a CPU long
 * enough to look like a stall to latency-sensitive work.
 */
#define SIMPLE_SLICE_NS_DEFAULT 5000000ULL /* 5 ms */
#define SIMPLE_SLICE_NS_MIN 100000ULL /* 100 us */
#define SIMPLE_SLICE_NS_MAX 100000000ULL /* 100 ms */

/*
 * The one dispatch queue all CPUs share. Ids with the top bit set
 * (SCX_DSQ_FLAG_BUILTIN) belong to the kernel's built-in queues, which
 * cannot be ordered by virtual time, so the scheduler creates its own.
 */
#define SIMPLE_SHARED_DSQ 0ULL

#endif /* SCHEDFLEET_SIMPLE_INTF_H */
