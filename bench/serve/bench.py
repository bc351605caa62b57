#!/usr/bin/env python3
"""The serving benchmark behind bench/serve.sh (read its header first).

One lab VM with 4 vCPUs; the same load (bench/loadgen) under each
scheduler, each put in place through `schedfleet apply` (or `schedfleet
rollback --default` for the kernel's default, EEVDF), interleaved and
repeated in rotating order; medians and ratios against EEVDF measured in
the same run. A scheduler that cannot be rolled out here is reported as
not available, with the reason, and never measured by anything else.

This file owns the orchestration and the report; the load and its
measurement are the load generator's, the rollout is schedfleet's.
"""

import argparse
import datetime
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEDULERS = ["eevdf", "simple", "serve", "scx_bpfland"]
# What /sys/kernel/sched_ext/root/ops starts with under each scheduler.
OPS_PREFIX = {"simple": "simple", "serve": "serve", "scx_bpfland": "bpfland"}
REMOTE_LOADGEN = "/tmp/schedfleet-loadgen"
CGROUP_ROOT = "/sys/fs/cgroup/schedfleet-loadgen"
# The serving cgroup as the `serve` scheduler's parameter names it (a path
# below the cgroup2 root).
SERVING_CGROUP = "/schedfleet-loadgen/serving"
HOST = "lab-1"


def log(msg):
    print(f"bench/serve: {msg}", file=sys.stderr, flush=True)


def run(argv, check=True, input=None, timeout=None, env=None):
    p = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise SystemExit(
            f"bench/serve: `{' '.join(map(shlex.quote, argv))}` exited {p.returncode}:\n"
            + p.stderr.decode(errors="replace")
        )
    return p


class Lab:
    """One lab VM in a lab directory of its own."""

    def __init__(self, sf, cpus):
        self.sf = sf
        self.cpus = cpus
        self.dir = tempfile.mkdtemp(prefix="sf-serve-lab-")
        self.env = dict(os.environ, SCHEDFLEET_LAB_DIR=self.dir)
        self.host = None

    def up(self):
        t = time.time()
        p = run([self.sf, "lab", "up", "--hosts", "1", "--cpus", str(self.cpus)], check=False, env=self.env)
        if p.returncode != 0:
            raise SystemExit("bench/serve: lab up failed:\n" + p.stderr.decode(errors="replace"))
        hosts = json.loads(run([self.sf, "lab", "status", "--json"], env=self.env).stdout)
        self.host = next(h for h in hosts if h["name"] == HOST)
        log(f"lab VM up in {time.time() - t:.0f} s ({self.cpus} vCPUs, port {self.host['port']})")

    def down(self):
        run([self.sf, "lab", "down"], check=False, env=self.env)
        shutil.rmtree(self.dir, ignore_errors=True)

    def ssh(self, argv, input=None, timeout=None, check=True):
        """Runs argv on the VM; every word is quoted, nothing is pasted."""
        h = self.host
        base = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + h["known_hosts_file"], "-i", h["identity_file"],
                "-p", str(h["port"]), "-l", h["user"], h["address"], "--"]
        return run(base + [" ".join(shlex.quote(a) for a in argv)], input=input, timeout=timeout, check=check)

    def sh(self, script, *args, check=True, timeout=None):
        """A fixed script with its data as positional arguments."""
        return self.ssh(["sh", "-c", script, "sh", *args], check=check, timeout=timeout)


class ConfigRepo:
    """A git repository with one commit per scheduler: each commit's
    fleet.yaml assigns that scheduler to the lab VM."""

    def __init__(self, sf, env):
        self.sf = sf
        self.env = env
        self.dir = tempfile.mkdtemp(prefix="sf-serve-repo-")
        self.revs = {}
        self.unavailable = {}
        os.makedirs(os.path.join(self.dir, "schedulers"))
        self.write("inventory.yaml", f"hosts:\n  {HOST}: {{ connection: lab }}\n")
        self.git("init", "-q")

    def write(self, path, text):
        with open(os.path.join(self.dir, path), "w") as f:
            f.write(text)

    def git(self, *args):
        return run(["git", "-C", self.dir, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args])

    def add(self, name, scheduler_file, params):
        """Commits `name` as the assigned scheduler; checks it with validate."""
        if scheduler_file is None:
            return
        shutil.copy(scheduler_file, os.path.join(self.dir, "schedulers", f"{name}.yaml"))
        params_yaml = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in params.items())
        self.write("fleet.yaml",
                   "assignments:\n  - hosts: all\n    scheduler: " + name + "\n"
                   + ("    params:\n" + params_yaml if params else "")
                   + 'rollout:\n  waves: ["100%"]\n  bake: 0s\n')
        self.git("add", "-A")
        self.git("commit", "-qm", name)
        rev = self.git("rev-parse", "HEAD").stdout.decode().strip()
        p = run([self.sf, "validate", "--repo", self.dir, "--rev", rev], check=False, env=self.env)
        if p.returncode != 0:
            lines = [l for l in p.stderr.decode(errors="replace").splitlines() if l.strip()]
            self.unavailable[name] = "`schedfleet validate` refused it: " + (lines[-1] if lines else f"exit {p.returncode}")
            return
        self.revs[name] = rev


def find_scheduler_file(name):
    """The scheduler file of `name` that this checkout ships, or None."""
    candidates = {
        "simple": ["examples/quickstart/schedulers/simple.yaml"],
        "serve": ["examples/inference-serving/schedulers/serve.yaml"],
        "scx_bpfland": ["examples/upstream-scx/schedulers/bpfland.yaml"],
    }[name]
    for c in candidates:
        if os.path.exists(os.path.join(ROOT, c)):
            return os.path.join(ROOT, c)
    return None


def missing_binary(scheduler_file):
    """For an upstream binary kept on this machine (`binary: controller:`),
    why it cannot be pushed; None when it is there (or not such a file)."""
    for line in open(scheduler_file):
        key, _, value = line.strip().partition(":")
        if key == "controller" and value.strip():
            path = os.path.expanduser(value.split("#")[0].strip().strip("'\""))
            if not os.path.isfile(path):
                return f"its binary `{path}` is not built here (`lab/setup.sh scx` builds it)"
    return None


class Unavailable(Exception):
    pass


def put_in_place(lab, repo, sf, name):
    """Rolls `name` out with schedfleet; checks the kernel runs it."""
    if name == "eevdf":
        argv = [sf, "rollback", "--repo", repo.dir, "--default", "--yes"]
    else:
        argv = [sf, "apply", "--repo", repo.dir, "--rev", repo.revs[name], "--yes"]
    t = time.time()
    p = run(argv, check=False, env=repo.env, timeout=600)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace")
        if name == "scx_bpfland":
            # Upstream binaries are new to schedfleet: say so, measure the rest.
            lines = [l for l in err.splitlines() if l.strip()]
            raise Unavailable(f"`schedfleet apply` exited {p.returncode}: " + (lines[-1] if lines else ""))
        raise SystemExit(f"bench/serve: putting {name} in place failed (exit {p.returncode}):\n" + err)
    state, ops = kernel_state(lab)
    want_ok = state == "disabled" if name == "eevdf" else (state == "enabled" and ops.startswith(OPS_PREFIX[name]))
    if not want_ok:
        raise SystemExit(f"bench/serve: after putting {name} in place the kernel says state `{state}`, ops `{ops}`")
    return time.time() - t


def kernel_state(lab):
    out = lab.sh("cat /sys/kernel/sched_ext/state; cat /sys/kernel/sched_ext/root/ops 2>/dev/null || true")
    lines = out.stdout.decode().split("\n")
    return lines[0].strip(), (lines[1].strip() if len(lines) > 1 else "")


def host_status(sf, repo):
    p = run([sf, "status", "--repo", repo.dir, "--json"], check=False, env=repo.env)
    try:
        entry = json.loads(p.stdout)[0]
    except (ValueError, IndexError, KeyError):
        return {}
    status = entry.get("status") or {}
    return {"last_ejection": status.get("last_ejection"), "last_fallback": status.get("last_fallback"),
            "kernel": status.get("kernel")}


def vm_cpu_seconds(lab):
    """CPU time the VM's qemu process has had from this machine (user +
    system). The VM cannot see how much of the host it gets (no steal time
    under TCG), so batch work is also given per CPU-second the VM got."""
    try:
        fields = open(f"/proc/{lab.host['pid']}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def measure(lab, repo, sf, name, load_args):
    took = put_in_place(lab, repo, sf, name)
    before = host_status(sf, repo)
    cpu_before = vm_cpu_seconds(lab)
    p = lab.ssh([REMOTE_LOADGEN, "run", *load_args], timeout=7200, check=False)
    cpu_after = vm_cpu_seconds(lab)
    if p.returncode != 0:
        raise SystemExit(f"bench/serve: the load generator failed under {name} (exit {p.returncode}):\n"
                         + p.stderr.decode(errors="replace"))
    result = json.loads(p.stdout)
    after = host_status(sf, repo)
    sx = result["sched_ext"]
    # An ejection, a fallback, or any (re)load during the run counts.
    changed = (sx["before"] != sx["after"]
               or before.get("last_ejection") != after.get("last_ejection")
               or before.get("last_fallback") != after.get("last_fallback"))
    if name != "eevdf" and sx["after"]["state"] != "enabled":
        changed = True
    vm_cpu = (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
    result["bench"] = {"scheduler": name, "put_in_place_s": round(took, 1), "ejections": int(changed),
                       "vm_cpu_s": vm_cpu, "status_after": after}
    return result


def metrics(r):
    s, b = r["serving"], r["batch"]
    elapsed = max(s["elapsed_s"], 1e-9)
    ctx = r["system"]["context_switches"]
    return {
        # Per request: the dispatcher's wake-up call to the worker running.
        "wake_p50_us": s["wakeup_request"]["p50_us"], "wake_p99_us": s["wakeup_request"]["p99_us"],
        "wake_p999_us": s["wakeup_request"]["p999_us"],
        # The feeders' timer deadline to running: under TCG this includes the
        # emulated timer's own lateness, which no scheduler changes.
        "timer_p99_us": s["wakeup_timer"]["p99_us"],
        "req_p50_us": s["request"]["p50_us"], "req_p99_us": s["request"]["p99_us"],
        "req_p999_us": s["request"]["p999_us"],
        "batch_units_per_s": b["units_per_s"],
        "batch_units_per_vm_cpu_s": (b["units"] / r["bench"]["vm_cpu_s"]) if r["bench"].get("vm_cpu_s") else None,
        "ctx_switches_per_s": (ctx / elapsed) if ctx is not None else None,
        "serving_ctx_involuntary": s["context_switches"]["involuntary"],
        "vm_idle_pct": (100 * r["system"]["cpu_idle_fraction"]) if r["system"].get("cpu_idle_fraction") is not None else None,
        "ejections": r["bench"]["ejections"],
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs, measured):
    summary = {}
    for name in measured:
        ms = [metrics(r) for r in runs if r["bench"]["scheduler"] == name]
        med = {k: median([m[k] for m in ms]) for k in ms[0]}
        med["ejections"] = sum(m["ejections"] for m in ms)
        med["rounds"] = len(ms)
        summary[name] = med
    base = summary.get("eevdf")
    for name, med in summary.items():
        def ratio(k):
            if not base or not base.get(k) or med.get(k) is None:
                return None
            return med[k] / base[k]
        # The same ratios round by round (each against the EEVDF run of its
        # own round), to show how far the medians can be trusted.
        med["round_ratios"] = round_ratios(runs, name)
        med["ratio_wake_p99"] = ratio("wake_p99_us")
        med["ratio_req_p99"] = ratio("req_p99_us")
        med["ratio_batch"] = ratio("batch_units_per_s")
        med["ratio_batch_per_vm_cpu"] = ratio("batch_units_per_vm_cpu_s")
    return summary


def round_ratios(runs, name):
    out = []
    rounds = sorted({r["bench"].get("round", 1) for r in runs})
    for rnd in rounds:
        mine = [metrics(r) for r in runs if r["bench"]["scheduler"] == name and r["bench"].get("round", 1) == rnd]
        base = [metrics(r) for r in runs if r["bench"]["scheduler"] == "eevdf" and r["bench"].get("round", 1) == rnd]
        if not mine or not base:
            continue
        m, b = mine[0], base[0]
        div = lambda k: (m[k] / b[k]) if m[k] is not None and b[k] else None
        out.append({"round": rnd, "wake_p99": div("wake_p99_us"), "req_p99": div("req_p99_us"),
                    "batch": div("batch_units_per_s"), "batch_per_vm_cpu": div("batch_units_per_vm_cpu_s")})
    return out


def fmt(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def table(summary):
    head = (f"{'scheduler':<12} {'wake p50':>9} {'p99':>9} {'p99.9':>9}   {'req p50':>9} {'p99':>9} {'p99.9':>9}"
            f"   {'timer p99':>9}   {'batch/s':>8} {'/vm cpu-s':>9} {'idle %':>6} {'ctxsw/s':>8} {'eject':>5}"
            f"   {'wake p99 x':>10} {'req p99 x':>9} {'batch x':>7} {'/cpu-s x':>8}")
    lines = [head, "-" * len(head)]
    for name, m in summary.items():
        lines.append(
            f"{name:<12} {fmt(m['wake_p50_us']):>9} {fmt(m['wake_p99_us']):>9} {fmt(m['wake_p999_us']):>9}"
            f"   {fmt(m['req_p50_us']):>9} {fmt(m['req_p99_us']):>9} {fmt(m['req_p999_us']):>9}"
            f"   {fmt(m['timer_p99_us']):>9}   {fmt(m['batch_units_per_s']):>8}"
            f" {fmt(m['batch_units_per_vm_cpu_s']):>9} {fmt(m['vm_idle_pct'], 1):>6} {fmt(m['ctx_switches_per_s']):>8}"
            f" {m['ejections']:>5}"
            f"   {fmt(m['ratio_wake_p99'], 2):>10} {fmt(m['ratio_req_p99'], 2):>9} {fmt(m['ratio_batch'], 2):>7}"
            f" {fmt(m['ratio_batch_per_vm_cpu'], 2):>8}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(prog="bench/serve.sh")
    ap.add_argument("--schedfleet", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--quick", action="store_true", help="one short round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="20s", help="load per measurement")
    ap.add_argument("--soak", metavar="DURATION", help="instead: serve under the load this long; fail on an ejection")
    ap.add_argument("--schedulers", default=",".join(SCHEDULERS))
    ap.add_argument("--cpus", type=int, default=4)
    ap.add_argument("--out", help="JSON result (default bench/results/serve-<UTC time>.json)")
    ap.add_argument("--keep", action="store_true", help="leave the VM running (prints its lab directory)")
    ap.add_argument("--command", default="bench/serve.sh", help="how this run was started, for the report")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.duration = 1, "8s"
    if a.rounds < 1:
        raise SystemExit("bench/serve: --rounds must be at least 1")
    wanted = [s for s in a.schedulers.split(",") if s]
    for s in wanted:
        if s not in SCHEDULERS:
            raise SystemExit(f"bench/serve: unknown scheduler `{s}` (known: {', '.join(SCHEDULERS)})")
    if a.soak:
        wanted = ["serve"]
    elif "eevdf" not in wanted:
        raise SystemExit("bench/serve: eevdf is the baseline every ratio needs; keep it in --schedulers")
    sf = os.path.abspath(a.schedfleet)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = a.out or os.path.join(ROOT, "bench", "results", f"serve-{'soak-' if a.soak else ''}{stamp}.json")

    lab = Lab(sf, a.cpus)
    repo = ConfigRepo(sf, lab.env)
    unavailable = {}
    try:
        for name in wanted:
            if name == "eevdf":
                continue
            f = find_scheduler_file(name)
            if f is None:
                why = {"serve": "this checkout has no examples/inference-serving/schedulers/serve.yaml (the `serve` scheduler, issue 9 item 1)",
                       "scx_bpfland": "this checkout ships no scheduler file for upstream scx binaries (issue 8)",
                       "simple": "examples/quickstart/schedulers/simple.yaml is missing"}[name]
                unavailable[name] = why
                continue
            why = missing_binary(f)
            if why:
                unavailable[name] = why
                continue
            params = {"serving_cgroups": SERVING_CGROUP} if name == "serve" else {}
            repo.add(name, f, params)
        unavailable.update(repo.unavailable)
        measured = [s for s in wanted if s == "eevdf" or s in repo.revs]
        for name, why in unavailable.items():
            log(f"{name}: not available ({why})")
        if a.soak and "serve" not in measured:
            raise SystemExit(f"bench/serve: the soak needs serve, which is not available ({unavailable.get('serve')})")

        lab.up()
        data = open(a.loadgen, "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        lab.ssh(["sh", "-c", 'cat > "$1.tmp" && chmod 755 "$1.tmp" && mv "$1.tmp" "$1"', "sh", REMOTE_LOADGEN], input=data)
        remote = lab.sh('sha256sum "$1"', REMOTE_LOADGEN).stdout.decode().split()[0]
        if remote != digest:
            raise SystemExit(f"bench/serve: the load generator on the VM has sha256 {remote}, expected {digest}")
        # cgroup v2 where the VM has none mounted yet; the serving and batch
        # cgroups exist before `serve` resolves the serving one at load.
        lab.sh('[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 cgroup2 /sys/fs/cgroup; '
               'mkdir -p "$1/serving" "$1/batch"', CGROUP_ROOT)
        calib = json.loads(lab.ssh([REMOTE_LOADGEN, "calibrate"]).stdout)["iters_per_us"]
        log(f"load generator pushed (sha256 {digest[:12]}), {calib:.1f} work iterations per us on the VM")
        duration = a.soak or a.duration
        load_args = ["--duration", duration, "--iters-per-us", f"{calib:.3f}", "--cgroup-root", CGROUP_ROOT,
                     "--hogs", str(a.cpus)]

        runs = []
        if a.soak:
            log(f"soak: serve under the load for {duration}")
            r = measure(lab, repo, sf, "serve", load_args)
            runs.append(r)
        else:
            for rnd in range(a.rounds):
                k = rnd % len(measured)
                order = measured[k:] + measured[:k]
                for name in order:
                    if name in unavailable:
                        continue
                    log(f"round {rnd + 1}/{a.rounds}: {name} ({duration})")
                    try:
                        r = measure(lab, repo, sf, name, load_args)
                    except Unavailable as e:
                        unavailable[name] = str(e)
                        log(f"{name}: not available ({e})")
                        runs = [r for r in runs if r["bench"]["scheduler"] != name]
                        continue
                    r["bench"]["round"] = rnd + 1
                    runs.append(r)
                    m = metrics(r)
                    log(f"  wake p99 {fmt(m['wake_p99_us'])} us, req p99 {fmt(m['req_p99_us'])} us, "
                        f"batch {fmt(m['batch_units_per_s'])}/s, ejections {m['ejections']}")
        summary = summarise(runs, [m for m in measured if m not in unavailable])
        result = {
            "benchmark": "serve", "command": a.command, "utc": stamp, "vm_cpus": a.cpus,
            "rounds": 1 if a.soak else a.rounds, "duration": duration, "soak": bool(a.soak),
            "iters_per_us": calib, "loadgen_sha256": digest,
            "unavailable": unavailable, "summary": summary, "runs": runs,
        }
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")

        if a.soak:
            print(f"serve soak: 1 VM, {a.cpus} vCPUs (TCG), serve under the load for {duration}; "
                  f"latencies in us, batch in work units/s")
        else:
            print(f"serve benchmark: 1 VM, {a.cpus} vCPUs (TCG), {a.rounds} round(s) of {duration} per scheduler, "
                  f"rotating order; medians; ratios against eevdf of this run; latencies in us, batch in work units/s")
        print(table(summary))
        for name, m in summary.items():
            if name != "eevdf" and len(m["round_ratios"]) > 1:
                rr = m["round_ratios"]
                print(f"{name}/eevdf by round: wake p99 " + " ".join(fmt(x["wake_p99"], 2) for x in rr)
                      + ", req p99 " + " ".join(fmt(x["req_p99"], 2) for x in rr)
                      + ", batch " + " ".join(fmt(x["batch"], 2) for x in rr)
                      + ", batch per VM CPU-s " + " ".join(fmt(x["batch_per_vm_cpu"], 2) for x in rr))
        for name, why in unavailable.items():
            print(f"{name}: not available ({why})")
        print(f"JSON: {os.path.relpath(out, ROOT) if out.startswith(ROOT) else out}")
        print(f"reproduce: {a.command}")
        if a.soak:
            ej = summary["serve"]["ejections"]
            print(f"soak: serve ran {duration} under hogs and the serving load: "
                  + ("no ejection" if ej == 0 else f"EJECTED ({runs[0]['bench']['status_after']})"))
            return 0 if ej == 0 else 1
        s = summary.get("serve")
        wake = fmt(s["ratio_wake_p99"], 2) if s and s["ratio_wake_p99"] is not None else "n/a"
        batch = fmt(s["ratio_batch"], 2) if s and s["ratio_batch"] is not None else "n/a"
        print(f"serve/eevdf p99 wake-up ratio: {wake}, batch throughput ratio: {batch}")
        return 0
    finally:
        if a.keep and lab.host:
            log(f"VM kept: SCHEDFLEET_LAB_DIR={lab.dir} ; config repo {repo.dir}")
        else:
            lab.down()
            shutil.rmtree(repo.dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
