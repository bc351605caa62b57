#!/usr/bin/env python3
"""schedfleet against the raw SSH floor and ansible-core on a loopback fleet.

One run starts max(SIZES) loopback sshd hosts (fleet.py) and, for each size
N, times on the first N hosts, interleaved within every repeat (the order
rotates from one repeat to the next), medians over the repeats:

  read group (one command per host, the agent already on every host)
    raw-ssh          N parallel `ssh HOST cat /proc/sys/kernel/osrelease`  (the floor)
    ansible-raw      `ansible -m raw -a 'cat /proc/sys/kernel/osrelease' -f N`
    plan             `schedfleet plan --parallel N`
    status           `schedfleet status --parallel N --latency-window 0s`
    drift            `schedfleet drift --parallel N`
  push group (every host emptied before each measure)
    raw-scp+ssh      per host, N in parallel: `scp -p AGENT OBJECT HOST:/var/lib/schedfleet/`
                     then `ssh HOST /var/lib/schedfleet/schedfleet-agent facts`  (the floor)
    ansible-push     a playbook, forks N: copy AGENT, copy OBJECT, command `AGENT facts`
    push             `schedfleet apply --yes --parallel N` with the test-only switch
                     SCHEDFLEET_TEST_FAULT=pretend-sched-ext: its probe reports sched_ext
                     on this kernel, which has none, so apply runs its whole push path
                     (probe, agent install, facts, status, lease, object upload) and
                     ends with the activation, which each host's agent refuses
                     (`no_sched_ext`): the "one command". Checked every time: exit 4,
                     every host failed with no_sched_ext after receiving both files.

For every measure: wall seconds (median), the controller's CPU seconds per
host (the command and every process under it, ssh masters included: this
process is their subreaper), the hosts' CPU seconds per host (every sshd and
what it ran, from the listeners' /proc stat), the whole machine's busy CPU
seconds over the same wall time (other users of the machine included), the
controller's peak RSS (its largest process) and SSH logins per host (from
each sshd's log).

    bench.py [--sizes 10,50,100,200] [--repeats 3] [--quick] [--out FILE]
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import Fleet  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RAW = Path(__file__).resolve().parent / "raw.sh"
CLK = os.sysconf("SC_CLK_TCK")
# The test-only switch every schedfleet measure runs with (see the docstring).
SWITCH = "pretend-sched-ext"
READ_CMD = ["cat", "/proc/sys/kernel/osrelease"]
READS = ["raw-ssh", "ansible-raw", "plan", "status", "drift"]
PUSHES = ["raw-scp+ssh", "ansible-push", "push"]
FLOOR = {"ansible-raw": "raw-ssh", "plan": "raw-ssh", "status": "raw-ssh", "drift": "raw-ssh",
         "ansible-push": "raw-scp+ssh", "push": "raw-scp+ssh"}


def die(msg):
    print(f"bench/fleet: {msg}", file=sys.stderr)
    sys.exit(1)


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        die(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


def machine_busy():
    vals = [int(v) for v in open("/proc/stat").readline().split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / CLK  # all but idle and iowait


def stat_of(pid):
    try:
        rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(rest[1]), sum(int(v) for v in rest[11:15]) / CLK  # ppid, utime+stime+cutime+cstime


def children_of(parents):
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            s = stat_of(entry.name)
            if s and s[0] in parents:
                found.append((int(entry.name), s[0]))
    return found


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.sf_bin = Path(args.schedfleet).resolve()
        self.agent = Path(args.agent).resolve()
        self.object = Path(args.object).resolve()
        self.ansible = Path(args.ansible).resolve()
        self.agent_digest = hashlib.sha256(self.agent.read_bytes()).hexdigest()
        self.fleet = None
        self.runs = []  # every measure of every repeat

    # ---- setup ----
    def up(self, n):
        t = time.monotonic()
        self.fleet = Fleet(self.work / "fleet", n).up()
        print(f"fleet: {n} sshd hosts on 127.{self.fleet.subnet}.x.y:{self.fleet.port} up in "
              f"{time.monotonic() - t:.1f} s", flush=True)

    def repo(self, n):
        repo = self.work / f"repo-{n}"
        if repo.exists():
            return repo
        (repo / "schedulers").mkdir(parents=True)
        shutil.copy(ROOT / "examples/quickstart/schedulers/simple.yaml", repo / "schedulers/simple.yaml")
        (repo / "fleet.yaml").write_text(
            'assignments:\n  - hosts: "h*"\n    scheduler: simple\n'
            'rollout:\n  waves: ["100%"]\n  bake: 0s\n  confirm_timeout: 60s\n'
        )
        (repo / "inventory.yaml").write_text(self.fleet.inventory(n))
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run(git + ["init", "-q"], check=True)
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-qm", f"bench fleet of {n}"], check=True)
        return repo

    def ansible_files(self, n):
        d = self.work / f"ansible-{n}"
        if d.exists():
            return d
        d.mkdir()
        (d / "local-tmp").mkdir()
        (d / "cp").mkdir()
        (d / "inventory.ini").write_text(self.fleet.ansible_inventory(n))
        (d / "ansible.cfg").write_text(
            "[defaults]\n"
            f"inventory = {d}/inventory.ini\nhost_key_checking = True\nremote_user = root\n"
            f"private_key_file = {self.fleet.identity}\ninterpreter_python = /usr/bin/python3\n"
            f"remote_tmp = /var/lib/schedfleet/.ansible-tmp\nlocal_tmp = {d}/local-tmp\n"
            "gathering = explicit\ntimeout = 60\nretry_files_enabled = False\n"
            "[ssh_connection]\npipelining = True\n"
            f"control_path_dir = {d}/cp\n"
            # As Ansible's default, less -C (no one else compresses), plus strict host keys.
            "ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o BatchMode=yes "
            f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={self.fleet.known_hosts} -o IdentitiesOnly=yes\n"
        )
        (d / "push.yml").write_text(
            "- hosts: fleet\n  gather_facts: false\n  tasks:\n"
            f"    - copy: {{ src: {self.agent}, dest: /var/lib/schedfleet/ansible-agent, mode: '0700' }}\n"
            f"    - copy: {{ src: {self.object}, dest: /var/lib/schedfleet/simple.bpf.o, mode: '0600' }}\n"
            "    - command: /var/lib/schedfleet/ansible-agent facts\n"
        )
        return d

    def reset(self, n):
        for h in self.fleet.hosts[:n]:
            h.reset()

    def install_agent_locally(self, n):
        """Puts the agent in each host's store as `apply` would, from outside (untimed)."""
        for h in self.fleet.hosts[:n]:
            h.reset()
            store = h.state / "store"
            store.mkdir(mode=0o700)
            shutil.copy(self.agent, store / self.agent_digest)
            os.chmod(store / self.agent_digest, 0o700)
            os.symlink(f"/var/lib/schedfleet/store/{self.agent_digest}", h.state / "schedfleet-agent")

    # ---- measuring ----
    def settle(self, grace=2.0):
        """Waits until every process a measure left (ssh masters, sshd
        sessions) is gone, so their CPU time is accounted; reaps our orphans,
        and ends those still there after `grace` (persisting ssh masters)."""
        me = os.getpid()
        listeners = {h.pid for h in self.fleet.hosts}
        deadline = time.monotonic() + grace
        termed = set()
        while True:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] != 0:
                    pass
            except ChildProcessError:
                pass
            left = [(p, pp) for p, pp in children_of(listeners | {me}) if p not in listeners]
            if not left:
                return
            if time.monotonic() > deadline:
                for pid, ppid in left:
                    if ppid == me and pid not in termed:  # ours: an orphaned ssh master
                        os.kill(pid, signal.SIGTERM)
                        termed.add(pid)
                if time.monotonic() > deadline + 20:
                    print(f"warning: processes still running after a measure: {left}", file=sys.stderr)
                    return
            time.sleep(0.05)

    def snapshot(self, n):
        hosts = self.fleet.hosts[:n]
        return {
            "children": resource.getrusage(resource.RUSAGE_CHILDREN),
            "hosts_cpu": sum((stat_of(h.pid) or (0, 0))[1] for h in hosts),
            "logins": sum(h.accepted() for h in hosts),
        }

    def measure(self, name, n, repeat, run):
        """`run()` does the work and returns (peak RSS kB or None, detail);
        it raises when the work did not do what it must."""
        before = self.snapshot(n)
        busy0, t0 = machine_busy(), time.monotonic()
        try:
            rss, detail = run()
            failed = None
        except RuntimeError as e:  # recorded, left out of the medians, and the run goes on
            rss, detail, failed = None, None, str(e)
        wall, busy = time.monotonic() - t0, machine_busy() - busy0
        self.settle()
        after = self.snapshot(n)
        cb, ca = before["children"], after["children"]
        rec = {
            "size": n, "repeat": repeat, "measure": name, "wall_s": round(wall, 3),
            "controller_cpu_s": round(ca.ru_utime + ca.ru_stime - cb.ru_utime - cb.ru_stime, 3),
            "hosts_cpu_s": round(after["hosts_cpu"] - before["hosts_cpu"], 3),
            "machine_busy_cpu_s": round(busy, 3),
            "peak_rss_mb": round(rss / 1024, 1) if rss else None,
            "logins_per_host": round((after["logins"] - before["logins"]) / n, 2),
            "loadavg": open("/proc/loadavg").read().split()[:3],
        }
        if detail:
            rec["detail"] = detail
        # The floors must have logged in to every host (1 or 2 connections each), or they measured less.
        want = {"raw-ssh": 1, "raw-scp+ssh": 2}.get(name)
        if not failed and want and after["logins"] - before["logins"] != want * n:
            failed = f"{after['logins'] - before['logins']} logins, expected {want * n}"
        if failed:
            rec["failed"] = failed
            print(f"  N={n:<4} r{repeat} {name:<13} FAILED after {wall:.2f} s: {failed[:1200]}", flush=True)
        self.runs.append(rec)
        print(f"  N={n:<4} r{repeat} {name:<13} {wall:7.2f} s  controller {rec['controller_cpu_s']:6.2f} cpu-s  "
              f"hosts {rec['hosts_cpu_s']:6.2f} cpu-s  machine {busy:6.2f} cpu-s  logins/host "
              f"{rec['logins_per_host']}" + (f"  rss {rec['peak_rss_mb']} MB" if rss else ""), flush=True)

    def spawn(self, argv, env=None, expect=(0,)):
        """Runs one controller command; returns (its peak RSS kB, stdout)."""
        out = tempfile.TemporaryFile(dir=self.work)
        err = tempfile.TemporaryFile(dir=self.work)
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if code not in expect:
            # The reasons first (stderr), then what it printed.
            raise RuntimeError(f"`{' '.join(map(str, argv[:3]))} ...` exited {code} (expected {expect}):\n"
                               f"{stderr[-3000:]}\n{stdout[-2000:]}")
        return usage.ru_maxrss, stdout

    def env(self, **extra):
        env = dict(os.environ)
        env.pop("SCHEDFLEET_TEST_FAULT", None)
        env["SCHEDFLEET_STATE_DIR"] = str(self.work / "state")
        env["SCHEDFLEET_AGENT"] = str(self.agent)
        env["NO_COLOR"] = "1"
        env.update(extra)
        return env

    def sf(self, verb, n, *more, env=None, expect=(0,)):
        argv = [str(self.sf_bin), verb, "--repo", str(self.repo(n)), "--parallel", str(n), *more]
        rss, _ = self.spawn(argv, env=env or self.env(SCHEDFLEET_TEST_FAULT=SWITCH), expect=expect)
        return rss, None

    def ansible_env(self, n):
        return self.env(ANSIBLE_CONFIG=str(self.ansible_files(n) / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        PYTHONWARNINGS="ignore")

    def run_measure(self, name, n):
        f = self.fleet
        if name in ("raw-ssh", "raw-scp+ssh"):
            addresses = self.work / f"addresses-{n}"
            addresses.write_text("".join(f"{h.address}\n" for h in f.hosts[:n]))
            argv = ["bash", str(RAW), "read" if name == "raw-ssh" else "push", str(addresses), str(f.port),
                    str(f.identity), str(f.known_hosts)]
            if name == "raw-scp+ssh":
                argv += [str(self.agent), str(self.object)]
            self.spawn(argv)
            return None, None
        if name == "ansible-raw":
            return self.spawn([str(self.ansible / "bin/ansible"), "fleet", "-m", "raw", "-a", " ".join(READ_CMD),
                               "-f", str(n)], env=self.ansible_env(n))[0], None
        if name == "ansible-push":
            d = self.ansible_files(n)
            return self.spawn([str(self.ansible / "bin/ansible-playbook"), str(d / "push.yml"), "-f", str(n)],
                              env=self.ansible_env(n))[0], None
        if name == "plan":
            return self.sf("plan", n, expect=(0, 1))
        if name == "status":
            return self.sf("status", n, "--latency-window", "0s")
        if name == "drift":
            # Its default per-host deadline (30 s) is for cron on real fleets; a
            # saturated 2-core loopback fleet of 200 needs longer than that.
            return self.sf("drift", n, "--host-timeout", "300s", expect=(0, 1))
        if name == "push":
            return self.push(n)
        raise ValueError(name)

    def push(self, n):
        argv = [str(self.sf_bin), "apply", "--repo", str(self.repo(n)), "--parallel", str(n), "--yes", "--json"]
        # Every agent refuses (no sched_ext) before any change and no host
        # changed: exit 2, as for bad input.
        rss, stdout = self.spawn(argv, env=self.env(SCHEDFLEET_TEST_FAULT=SWITCH), expect=(2,))
        report = json.loads(stdout)
        want = self.agent.stat().st_size + self.object.stat().st_size
        bad = [h for h in report["hosts"]
               if h.get("bytes_sent") != want or "sched_ext" not in (h.get("message") or "")]
        if bad or len(report["hosts"]) != n:
            raise RuntimeError(f"the push did not reach activation on every host: {json.dumps(bad[:2])}")
        return rss, None

    # ---- the run ----
    def size(self, n, repeats, only):
        self.repo(n)
        self.ansible_files(n)
        for r in range(repeats):
            for group, prepare in ((READS, self.install_agent_locally), (PUSHES, self.reset)):
                group = [m for m in group if m in only]
                if not group:
                    continue
                k = r % len(group)
                for name in group[k:] + group[:k]:
                    prepare(n)
                    self.measure(name, n, r, lambda name=name: self.run_measure(name, n))

    def summary(self):
        rows = []
        for n in sorted({r["size"] for r in self.runs}):
            med = {}
            for name in READS + PUSHES:
                every = [r for r in self.runs if r["size"] == n and r["measure"] == name]
                rs = [r for r in every if "failed" not in r]
                if not rs:
                    continue
                m = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
                rss = [r["peak_rss_mb"] for r in rs if r["peak_rss_mb"]]
                med[name] = {
                    "size": n, "measure": name, "repeats": len(rs), "failed_runs": len(every) - len(rs),
                    "wall_s": round(m("wall_s"), 3),
                    "controller_cpu_s_per_host": round(m("controller_cpu_s") / n, 4),
                    "hosts_cpu_s_per_host": round(m("hosts_cpu_s") / n, 4),
                    "machine_busy_cpu_s": round(m("machine_busy_cpu_s"), 2),
                    "peak_rss_mb": max(rss) if rss else None,
                    "logins_per_host": m("logins_per_host"),
                }
            for name, row in med.items():
                floor = med.get(FLOOR.get(name, ""))
                row["floor"] = FLOOR.get(name)
                row["ratio_to_floor"] = round(row["wall_s"] / floor["wall_s"], 3) if floor else None
                ansible = med.get({"push": "ansible-push"}.get(name, "ansible-raw" if name in READS[2:] else ""))
                row["ansible_over_this"] = round(ansible["wall_s"] / row["wall_s"], 2) if ansible else None
                rows.append(row)
        return rows


def print_table(rows):
    head = (f"{'N':>4} {'measure':<13} {'median s':>9} {'x floor':>8} {'ansible/this':>12} "
            f"{'ctl cpu-s/host':>14} {'host cpu-s/host':>15} {'machine cpu-s':>13} {'ctl RSS MB':>10} {'logins/host':>11}")
    print(head)
    for r in rows:
        ratio = f"{r['ratio_to_floor']:.2f}x" if r["ratio_to_floor"] else "floor"
        ans = f"{r['ansible_over_this']:.1f}x" if r["ansible_over_this"] else "-"
        rss = f"{r['peak_rss_mb']:.1f}" if r["peak_rss_mb"] else "-"
        print(f"{r['size']:>4} {r['measure']:<13} {r['wall_s']:>9.2f} {ratio:>8} {ans:>12} "
              f"{r['controller_cpu_s_per_host']:>14.4f} {r['hosts_cpu_s_per_host']:>15.4f} "
              f"{r['machine_busy_cpu_s']:>13.1f} {rss:>10} {r['logins_per_host']:>11}"
              + (f"  ({r['failed_runs']} failed run(s) left out)" if r["failed_runs"] else ""))
    print()
    for r in rows:
        if r["ratio_to_floor"]:
            line = f"ratio N={r['size']} {r['measure']}: {r['ratio_to_floor']:.2f}x {r['floor']}"
            if r["ansible_over_this"]:
                line += f", ansible {r['ansible_over_this']:.1f}x slower"
            print(line)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10,50,100,200")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="sizes 10,50 and one repeat")
    p.add_argument("--schedfleet", default=os.environ.get("SCHEDFLEET", str(ROOT / "target/release/schedfleet")))
    p.add_argument("--agent", default=os.environ.get("SCHEDFLEET_AGENT"),
                   help="the static agent (default: the one built into schedfleet, `schedfleet generate agent`)")
    p.add_argument("--object", default=os.environ.get("SCHEDFLEET_BENCH_OBJECT"))
    p.add_argument("--ansible", default=str(Path.home() / ".cache/schedfleet/tools/ansible"))
    p.add_argument("--out", help="JSON results (default bench/results/fleet-DATE.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--only", help="a comma-separated subset of the measures (default: all)")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.repeats = "10,50", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    only = args.only.split(",") if args.only else READS + PUSHES
    if unknown := [m for m in only if m not in READS + PUSHES]:
        die(f"unknown measure(s) {unknown}; the measures are {READS + PUSHES}")
    if args.repeats < 1 or not sizes or min(sizes) < 1:
        die("--repeats and every size must be at least 1")
    if not Path(args.schedfleet).is_file():
        die(f"no schedfleet at {args.schedfleet}: run `make build` (or pass --schedfleet)")
    if args.agent is None:
        args.agent = str(Path(tempfile.mkdtemp(prefix="sf-agent-", dir="/tmp")) / "schedfleet-agent")
        subprocess.run([args.schedfleet, "generate", "agent", args.agent], check=True)
    for what, path in (("schedfleet", args.schedfleet), ("agent", args.agent)):
        if not Path(path).is_file():
            die(f"no {what} at {path}: run `make build` (or pass --{what})")
    if not args.object:
        targets = {Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")), ROOT / "target"}
        found = sorted((o for t in targets for o in t.glob("*/build/schedfleet-bpf-*/out/simple.bpf.o")),
                       key=lambda q: q.stat().st_mtime)
        if not found:
            die("no simple.bpf.o under target/: run `make build` (or pass --object)")
        args.object = str(found[-1])
    if not (Path(args.ansible) / "bin/ansible-playbook").is_file():
        die(f"no ansible-core at {args.ansible}: run `lab/setup.sh tools`")
    if not (Path(args.schedfleet).stat().st_mode & 0o111):
        die(f"{args.schedfleet} is not executable")
    become_subreaper()
    # Up to 200 hosts x (ssh master + sockets): more descriptors than the default.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    started = datetime.datetime.now(datetime.timezone.utc)
    command = "bench/fleet/run.sh " + " ".join(sys.argv[1:])
    load_before = open("/proc/loadavg").read().split()[:3]
    print(f"# {command}\n# {started:%Y-%m-%d %H:%M:%S} UTC; {os.cpu_count()} CPUs; load {' '.join(load_before)}; "
          f"kernel {platform.release()}; sizes {sizes}, {args.repeats} repeat(s)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sf-fleet-", dir="/tmp"))
    bench = Bench(args, work)
    out = Path(args.out) if args.out else ROOT / f"bench/results/fleet-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(done):
        out.write_text(json.dumps({
            "command": command, "started_utc": started.isoformat(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "load_before": load_before,
            "load_now": open("/proc/loadavg").read().split()[:3], "sizes": sizes, "sizes_done": done,
            "repeats": args.repeats, "schedfleet": args.schedfleet, "agent_bytes": Path(args.agent).stat().st_size,
            "object_bytes": Path(args.object).stat().st_size, "switch": f"SCHEDFLEET_TEST_FAULT={SWITCH}",
            "summary": bench.summary(), "runs": bench.runs,
        }, indent=1) + "\n")

    try:
        bench.up(max(sizes))
        for i, n in enumerate(sizes):
            bench.size(n, args.repeats, only)
            save(sizes[: i + 1])
    finally:
        if bench.fleet:
            bench.fleet.down()
        bench.settle(grace=0) if bench.fleet else None
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = bench.summary()
    load_after = open("/proc/loadavg").read().split()[:3]
    print(f"\n# {command}\n# load before {' '.join(load_before)}, after {' '.join(load_after)} "
          f"(1/5/15 min; {os.cpu_count()} CPUs, shared)")
    print_table(rows)
    print(f"\nresults: {out}")
    failed = [r for r in bench.runs if "failed" in r]
    if failed:
        print(f"{len(failed)} run(s) failed (in the JSON, left out of the medians)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
