#!/usr/bin/env python3
"""A loopback fleet: N real OpenSSH servers on this machine.

Each host is one `/usr/sbin/sshd -D` listening on its own loopback address
(127.S.x.y, S picked per fleet so two fleets never share an address), with
its own ed25519 host key and its own `/var/lib/schedfleet`: sshd runs in a
private mount namespace (`unshare --mount --propagation private`) where a
per-host directory is bind-mounted over /var/lib/schedfleet, so every
session of that host (and the agent it runs) sees only that host's store,
state and leases, and an empty root ~/.bashrc (see BASHRC). The controller logs in as root with a key the fleet
generates, and checks host keys strictly against a known_hosts file the
fleet writes (never accept-new). Hosts are started as children and stopped
by their PID, never by name.

Only 127.0.0.0/8 is ever used. The one thing written outside the fleet's
directory is the empty mount point /var/lib/schedfleet (created when
missing, never removed: removing it would detach the mounts of every other
fleet that is running).

    fleet.py up N DIR        # start N hosts, write DIR/hosts.json, stay in the foreground
    fleet.py check DIR       # log in to every host once (strict host keys)

Library use (the benchmark): `Fleet(dir, n).up()`, `.down()`.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
MOUNT_POINT = "/var/lib/schedfleet"
# Root's ~/.bashrc, which bash reads for every command sshd runs. This
# machine's runs `pyenv init` (about 0.1 s of CPU and 0.3 s per remote
# command); a fleet host's root has no such thing, so each host sees an
# empty one in its namespace (the real file is not touched).
BASHRC = "/root/.bashrc"
# In the new mount namespace: mount this host's directory over
# /var/lib/schedfleet and an empty file over root's ~/.bashrc (when there is
# one), then become sshd. A fixed script, data only as arguments.
ENTER = ('mount --bind -- "$1" "$2" && { [ ! -e "$5" ] || mount --bind -- "$6" "$5"; } '
         '&& exec "$3" -D -e -f "$4"')


def keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().split()[:2]


def free_port(address):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Host:
    def __init__(self, fleet, index):
        self.index = index
        self.name = f"h{index:03d}"
        self.address = f"127.{fleet.subnet}.{index // 250}.{index % 250 + 1}"
        self.dir = fleet.dir / "hosts" / self.name
        self.state = self.dir / "var-lib-schedfleet"
        self.log = self.dir / "sshd.log"
        self.config = self.dir / "sshd_config"
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def accepted(self):
        """SSH logins this host's sshd accepted so far."""
        try:
            return self.log.read_text(errors="replace").count("Accepted publickey")
        except FileNotFoundError:
            return 0

    def reset(self):
        """Empties the host's /var/lib/schedfleet (from outside: it is a local directory)."""
        for child in self.state.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


class Fleet:
    def __init__(self, directory, n, subnet=None):
        if not 1 <= n <= 250 * 250:
            raise ValueError("N must be between 1 and 62500")
        self.dir = Path(directory).resolve()
        self.n = n
        self.subnet = subnet if subnet is not None else random.randint(64, 250)
        self.hosts = [Host(self, i) for i in range(n)]
        self.port = None
        self.identity = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"

    def up(self, timeout=60):
        if not Path(SSHD).exists():
            raise SystemExit(f"{SSHD} is missing: run `lab/setup.sh packages` (Debian package openssh-server)")
        if os.geteuid() != 0:
            raise SystemExit("the loopback fleet needs root (mount namespaces, root logins)")
        os.makedirs(MOUNT_POINT, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        client = keygen(self.identity, "schedfleet-bench-controller")
        (self.dir / "authorized_keys").write_text(" ".join(client) + "\n")
        (self.dir / "empty").write_text("")
        self.port = free_port(self.hosts[0].address)
        known = []
        for h in self.hosts:
            h.dir.mkdir(parents=True, exist_ok=True)
            h.state.mkdir(mode=0o700, exist_ok=True)
            key = keygen(h.dir / "host_ed25519", h.name)
            known.append(f"[{h.address}]:{self.port} {' '.join(key)}")
            h.config.write_text(
                f"Port {self.port}\nListenAddress {h.address}\nHostKey {h.dir}/host_ed25519\n"
                f"AuthorizedKeysFile {self.dir}/authorized_keys\nPidFile none\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nStrictModes no\nUseDNS no\nLogLevel INFO\n"
                # One controller opens at most a few connections per host at
                # once, but many sessions over one (multiplexing).
                "MaxStartups 100:30:200\nMaxSessions 100\nPrintMotd no\n"
                f"Subsystem sftp /usr/lib/openssh/sftp-server\n"
            )
        self.known_hosts.write_text("\n".join(known) + "\n")
        for h in self.hosts:
            log = open(h.log, "ab")
            h.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", ENTER, "sh",
                 str(h.state), MOUNT_POINT, SSHD, str(h.config), BASHRC, str(self.dir / "empty")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
            log.close()
        deadline = time.monotonic() + timeout
        for h in self.hosts:
            while True:
                if h.proc.poll() is not None:
                    self.down()
                    raise SystemExit(f"sshd of {h.name} exited with {h.proc.returncode}: {h.log.read_text()[-2000:]}")
                try:
                    socket.create_connection((h.address, self.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.down()
                        raise SystemExit(f"sshd of {h.name} did not listen on {h.address}:{self.port}")
                    time.sleep(0.02)
        self.write_descriptions()
        return self

    def down(self):
        """Stops every host by its PID (SIGTERM, then SIGKILL)."""
        for h in self.hosts:
            if h.proc and h.proc.poll() is None:
                h.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for h in self.hosts:
            if h.proc:
                try:
                    h.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    h.proc.kill()
                    h.proc.wait()

    def ssh_args(self, host):
        """`ssh` options for `host`: this fleet's key, strict host keys, no user config."""
        return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "IdentitiesOnly=yes",
                "-i", str(self.identity), "-p", str(self.port), "-l", "root", host.address]

    def scp_args(self):
        return ["scp", "-F", "/dev/null", "-q", "-p", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "IdentitiesOnly=yes",
                "-i", str(self.identity), "-P", str(self.port)]

    def write_descriptions(self):
        hosts = [{"name": h.name, "address": h.address, "port": self.port, "user": "root",
                  "identity_file": str(self.identity), "known_hosts_file": str(self.known_hosts),
                  "state_dir": str(h.state), "sshd_pid": h.pid} for h in self.hosts]
        (self.dir / "hosts.json").write_text(json.dumps(hosts, indent=1) + "\n")

    def inventory(self, n=None):
        """A schedfleet inventory of the first `n` hosts."""
        lines = ["hosts:"]
        for h in self.hosts[: n or self.n]:
            lines.append(
                f"  {h.name}: {{ address: {h.address}, port: {self.port}, user: root, "
                f"identity_file: {self.identity}, known_hosts_file: {self.known_hosts} }}"
            )
        return "\n".join(lines) + "\n"

    def ansible_inventory(self, n=None):
        lines = ["[fleet]"]
        for h in self.hosts[: n or self.n]:
            lines.append(f"{h.name} ansible_host={h.address} ansible_port={self.port}")
        return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) == 4 and argv[1] == "up":
        fleet = Fleet(argv[3], int(argv[2])).up()
        print(f"{fleet.n} hosts on 127.{fleet.subnet}.*:{fleet.port}; {fleet.dir}/hosts.json; Ctrl-C stops them",
              flush=True)
        def stop(*_):
            raise KeyboardInterrupt
        signal.signal(signal.SIGTERM, stop)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            fleet.down()
        return 0
    if len(argv) == 3 and argv[1] == "check":
        hosts = json.loads((Path(argv[2]) / "hosts.json").read_text())
        for h in hosts:
            subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                            "-o", f"UserKnownHostsFile={h['known_hosts_file']}", "-i", h["identity_file"],
                            "-p", str(h["port"]), "-l", "root", h["address"], "test", "-d", MOUNT_POINT], check=True)
        print(f"{len(hosts)} hosts answered")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
