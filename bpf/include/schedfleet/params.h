/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Typed load-time parameters that are not plain integers: a CPU list, a list
 * of cgroups and a list of command-name prefixes. A scheduler declares one as
 * a `const volatile` global of one of the structs below in .rodata, and the
 * loader recognises the kind by the struct's name in the object's BTF, not by
 * the variable's name:
 *
 *   const volatile struct sf_cpumask serving_cpus;
 *
 * The user writes the value as text in the scheduler file (`"0-3,8"`,
 * `"/serving,/system.slice/vllm.service"`, `"python,tokenize"`); the agent
 * turns it into the struct's bytes on the host, checking it there (a CPU the
 * host lacks, a cgroup that does not exist) before anything is loaded, so a
 * bad value leaves the running scheduler alone. The capacity of each kind is
 * the size of its struct in BTF, so these sizes may grow without changing the
 * loader. Plain C with no kernel types: the Rust mirror is
 * schedfleet_bpf::param, and its tests check these layouts against BTF.
 *
 * An all-zero value (the compiled-in default) means "none".
 */
#ifndef SCHEDFLEET_PARAMS_H
#define SCHEDFLEET_PARAMS_H

/*
 * sf_cpumask: a set of CPU ids, bit (cpu % 64) of word (cpu / 64). Written
 * as a kernel CPU list ("0-3,8", "" for none). The agent refuses a CPU that
 * is not online on the host.
 */
#define SF_CPUMASK_MAX_CPUS 1024
struct sf_cpumask {
	unsigned long long bits[SF_CPUMASK_MAX_CPUS / 64];
};

/*
 * sf_cgroup_ids: up to SF_CGROUP_IDS_MAX cgroup v2 ids, the unused tail
 * zero. Written as comma-separated cgroup v2 paths, relative to the cgroup2
 * root or under its mount point ("/serving", "system.slice/vllm.service",
 * "/sys/fs/cgroup/serving"); the agent resolves each to the inode number of
 * its directory, which is the kernel's cgroup id (kernfs_node.id), and
 * refuses a path that does not exist on the host.
 */
#define SF_CGROUP_IDS_MAX 8
struct sf_cgroup_ids {
	unsigned long long ids[SF_CGROUP_IDS_MAX];
};

/*
 * sf_comm_prefixes: up to SF_COMM_PREFIXES_MAX command-name prefixes, each
 * NUL-padded to SF_COMM_LEN bytes (the kernel's TASK_COMM_LEN), the unused
 * tail zero. Written comma-separated ("python,tokenize"); each prefix is 1 to
 * SF_COMM_LEN - 1 bytes, since a task's comm holds at most 15.
 */
#define SF_COMM_LEN 16
#define SF_COMM_PREFIXES_MAX 8
struct sf_comm_prefixes {
	char prefix[SF_COMM_PREFIXES_MAX][SF_COMM_LEN];
};

#endif /* SCHEDFLEET_PARAMS_H */
