/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every schedfleet BPF scheduler includes first: kernel types, the libbpf
 * helper headers, the struct_ops program macros and the exit-info record that
 * lets userspace see why a scheduler left.
 *
 * This header is only for BPF programs (it pulls in vmlinux.h); types shared
 * with userspace belong in each scheduler's intf.h.
 */
#ifndef SCHEDFLEET_COMMON_BPF_H
#define SCHEDFLEET_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/*
 * The scx kfuncs the schedulers call (scx_bpf_dsq_insert,
 * scx_bpf_dsq_insert_vtime, scx_bpf_dsq_move_to_local,
 * scx_bpf_select_cpu_dfl, scx_bpf_create_dsq, scx_bpf_kick_cpu,
 * scx_bpf_pick_idle_cpu, scx_bpf_task_set_dsq_vtime, scx_bpf_error_bstr) are
 * not declared here: bpftool 7.5 emits them as `extern ... __weak __ksym`
 * prototypes into vmlinux.h, taken from the kernel's own BTF, and
 * scripts/gen-vmlinux.sh refuses to write a header that lacks them. A second
 * hand-written declaration could only drift from the kernel's. Should a
 * regenerated header ever lose them, the build stops: since clang 16, calling
 * an undeclared function is an error in C99 and later.
 *
 * vmlinux.h is one kernel's list, though, and hosts run others: the kfuncs
 * that differ between the sched_ext releases go through the sf_* helpers of
 * compat.bpf.h (included at the end of this file), never called directly.
 */

/*
 * libbpf does not ship these (sched-ext/scx defines its own in its
 * common.bpf.h). BPF_PROG unpacks the u64 context array the struct_ops
 * trampoline passes into typed arguments, and the section name tells libbpf
 * which program type to load it as. The ".s" variant loads the program as
 * sleepable, for the ops the kernel calls where sleeping is allowed (ops.init,
 * ops.init_task, ...), so that they may call kfuncs that sleep.
 */
#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)

#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef ENOSYS
#define ENOSYS 38
#endif

/*
 * Signed comparison of two wrapping u64 virtual times: true when @a is before
 * @b. Virtual times only grow, and comparing their difference as s64 keeps
 * the order right even after the counter wraps around.
 */
static __always_inline bool sf_vtime_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

/*
 * Why a scheduler left, copied out of the kernel's struct scx_exit_info in
 * ops.exit. The kernel frees its copy once ops.exit returns, so without this
 * record the reason survives only in the kernel log. Userspace (the agent)
 * reads it from the object's .bss map after the link is gone, or while it
 * holds the map open.
 *
 * @kind is the kernel's enum scx_exit_kind: 0 (SCX_EXIT_NONE) means "has not
 * exited"; 1 means done, 64-69 unregistered (by userspace, BPF, the kernel,
 * SysRq-S, a parent scheduler), 1024 and above an error (1025 raised by the
 * BPF program, 1026 the stall watchdog). @exit_code is the code passed to
 * scx_bpf_exit() or the one userspace set when unregistering. @reason is the
 * kernel's short static explanation and @msg the longer message (a BPF error's
 * formatted text, or the stall details); both are NUL-terminated and
 * truncated to their buffers (@msg matches the kernel's SCX_EXIT_MSG_LEN).
 *
 * The layout is part of the contract with userspace and is asserted below:
 * kind at 0, 4 bytes of padding, exit_code at 8, reason at 16, msg at 144,
 * 1168 bytes in all. schedfleet_bpf::exit_info in the Rust crate mirrors it.
 */
#define SF_EXIT_REASON_LEN 128
#define SF_EXIT_MSG_LEN 1024

struct sf_exit_info {
	s32 kind;
	s64 exit_code;
	char reason[SF_EXIT_REASON_LEN];
	char msg[SF_EXIT_MSG_LEN];
};

_Static_assert(__builtin_offsetof(struct sf_exit_info, exit_code) == 8,
	       "sf_exit_info layout is shared with userspace");
_Static_assert(__builtin_offsetof(struct sf_exit_info, reason) == 16,
	       "sf_exit_info layout is shared with userspace");
_Static_assert(__builtin_offsetof(struct sf_exit_info, msg) == 144,
	       "sf_exit_info layout is shared with userspace");
_Static_assert(sizeof(struct sf_exit_info) == 1168,
	       "sf_exit_info layout is shared with userspace");

/*
 * Defines the record as a zero-initialised global, which clang places in
 * .bss; libbpf turns that section into a map named "<object>.bss" that
 * userspace can read. Use once per scheduler, at file scope.
 */
#define SF_DECLARE_EXIT_INFO struct sf_exit_info sf_exit_info

/*
 * Copies @ei (a struct scx_exit_info * from ops.exit) into sf_exit_info.
 *
 * The strings live in kernel memory the program may not dereference
 * directly, hence bpf_probe_read_kernel_str, which also bounds and
 * NUL-terminates them. @kind is written last, with an atomic exchange that is
 * a full barrier, so a reader that sees a non-zero kind also sees the strings
 * and the exit code.
 */
#define SF_RECORD_EXIT(ei)                                                     \
	({                                                                     \
		bpf_probe_read_kernel_str(sf_exit_info.reason,                 \
					  sizeof(sf_exit_info.reason),          \
					  (ei)->reason);                        \
		bpf_probe_read_kernel_str(sf_exit_info.msg,                    \
					  sizeof(sf_exit_info.msg), (ei)->msg); \
		sf_exit_info.exit_code = (ei)->exit_code;                      \
		__sync_lock_test_and_set(&sf_exit_info.kind, (s32)(ei)->kind); \
	})

/*
 * Raises a scheduler error: the kernel unloads the scheduler with
 * SCX_EXIT_ERROR_BPF and the formatted message in scx_exit_info.msg, which
 * SF_RECORD_EXIT preserves for userspace. @fmt is a string literal with
 * printf-style conversions for 64-bit values (%llu, %lld, %llx); at least one
 * argument is required, because the kernel takes the arguments as an array
 * and a zero-length one is not valid C.
 *
 * The format string must be writable memory: the verifier checks a kfunc's
 * plain buffer arguments (here `char *fmt`) for both reading and writing, so
 * a string in .rodata would be rejected. A static non-const array lands in
 * .data instead.
 */
#define sf_error(fmt, args...)                                                 \
	({                                                                     \
		static char ___sf_fmt[] = fmt;                                 \
		unsigned long long ___sf_args[] = { args };                    \
		scx_bpf_error_bstr(___sf_fmt, ___sf_args, sizeof(___sf_args)); \
	})

#include "compat.bpf.h"

#endif /* SCHEDFLEET_COMMON_BPF_H */
