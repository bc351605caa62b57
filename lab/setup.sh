#!/usr/bin/env bash
# Installs what building schedfleet and running its VM lab need on a Debian 12
# machine, and fetches the lab's sched_ext kernel into a cache. Idempotent: a
# second run with everything present only checks and returns.
#
#   lab/setup.sh            # packages + kernel + test tools
#   lab/setup.sh packages   # Debian packages only
#   lab/setup.sh kernel     # kernel only
#   lab/setup.sh tools      # promtool (checks drift's Prometheus output in tests) and
#                           # ansible-core in a virtualenv (the oracle of inventory tests and
#                           # the baseline of bench/fleet)
#
# The kernel lands in ${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}/kernel/<release>/
# (vmlinuz, config, modules) with a `current` symlink that `schedfleet lab up` reads.
set -euo pipefail

CACHE="${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}"
# The kernel release pattern: Debian's trixie-backports cloud kernels with sched_ext.
KERNEL_PATTERN="${SCHEDFLEET_KERNEL_PATTERN:-^linux-binary-7\.[0-9.]+\+deb13-cloud-amd64$}"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "installing Debian packages needs root; run \`sudo $0 $*\`"
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        apt-get update -qq || die "apt-get update failed; check the machine's access to Debian's mirrors"
        apt_updated=1
    fi
}

write_if_changed() { # path content
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
        printf '%s\n' "$2" >"$1"
        apt_updated=0
        return 0
    fi
    return 1
}

packages() {
    # Packages from bookworm itself, and the few that must come from
    # bookworm-backports: qemu 10 (bookworm's 7.2 conflicts with the newer
    # qemu-utils), libbpf 1.4 headers (sched_ext helpers), bpftool 7.5.
    local base=(clang-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev pkg-config cpio
        busybox-static openssh-server openssh-sftp-server xz-utils zstd file ca-certificates)
    # ssh-keygen and gpg verify signed commits (and the signing tests make keys).
    base+=(openssh-client gnupg)
    local bpo=(qemu-system-x86 libbpf-dev bpftool)
    local missing=()
    for p in "${base[@]}" "${bpo[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # libbpf-dev must be the backport (1.4+), not bookworm's 1.1.
    if dpkg --compare-versions "$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo 0)" lt 1:1.4; then
        missing+=(libbpf-dev)
    fi
    if [ "${#missing[@]}" = 0 ]; then
        log "Debian packages present"
        return
    fi
    need_root packages
    mkdir -p /etc/apt/sources.list.d /etc/apt/preferences.d
    write_if_changed /etc/apt/sources.list.d/schedfleet-bookworm-backports.sources "Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" || true
    apt_update
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${base[@]}" \
        || die "apt-get install of ${base[*]} failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports "${bpo[@]}" \
        || die "apt-get install -t bookworm-backports of ${bpo[*]} failed"
    # The host's own sshd is only a source of binaries for the lab image; keep it stopped.
    if command -v systemctl >/dev/null && systemctl is-active -q ssh 2>/dev/null; then
        systemctl disable --now ssh >/dev/null 2>&1 || true
    fi
}

kernel() {
    if [ -e "$CACHE/kernel/current/vmlinuz" ] && [ -e "$CACHE/kernel/current/config" ]; then
        log "kernel present: $(readlink "$CACHE/kernel/current")"
        return
    fi
    need_root kernel
    # trixie-backports with a pin of 50: nothing on this machine is ever
    # upgraded from it; we only download kernel packages.
    write_if_changed /etc/apt/sources.list.d/schedfleet-trixie-backports.sources "Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" || true
    write_if_changed /etc/apt/preferences.d/schedfleet-trixie-backports "Package: *
Pin: release n=trixie-backports
Pin-Priority: 50" || true
    apt_update
    local pkg
    pkg=$(apt-cache search --names-only "$KERNEL_PATTERN" | awk '{print $1}' | sort -V | tail -n1)
    [ -n "$pkg" ] || die "no package matching \`$KERNEL_PATTERN\` in trixie-backports; check /etc/apt/sources.list.d/schedfleet-trixie-backports.sources"
    local release=${pkg#linux-binary-}
    log "kernel release $release"
    local dir="$CACHE/kernel/$release"
    local tmp
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && apt-get download -qq "linux-binary-$release" "linux-base-$release" "linux-modules-$release") \
        || die "apt-get download of the $release kernel packages failed"
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/x"; done
    local mod="$tmp/x/usr/lib/modules/$release"
    [ -f "$mod/vmlinuz" ] || die "linux-binary-$release has no usr/lib/modules/$release/vmlinuz"
    grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$mod/config" \
        || die "kernel $release lacks CONFIG_SCHED_CLASS_EXT=y; pin another release with SCHEDFLEET_KERNEL_PATTERN"
    mkdir -p "$dir.tmp/modules"
    cp "$mod/vmlinuz" "$mod/config" "$dir.tmp/"
    for m in failover net_failover virtio_net; do
        local f
        f=$(find "$mod" -name "$m.ko*" | head -n1)
        [ -n "$f" ] || die "module $m not found in linux-modules-$release"
        case "$f" in
            *.xz) xz -dc "$f" >"$dir.tmp/modules/$m.ko" ;;
            *.zst) zstd -qdc "$f" >"$dir.tmp/modules/$m.ko" ;;
            *) cp "$f" "$dir.tmp/modules/$m.ko" ;;
        esac
    done
    printf '%s\n' "$release" >"$dir.tmp/release"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
    ln -sfn "$release" "$CACHE/kernel/current"
    log "kernel cached in $dir"
}

tools() {
    # promtool alone, from Debian's prometheus package, downloaded and
    # unpacked into the cache: the Prometheus server is never installed.
    if [ -x "$CACHE/tools/promtool" ]; then
        log "promtool present"
        return
    fi
    apt_update
    local tmp
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && apt-get download -qq prometheus) || die "apt-get download prometheus failed"
    dpkg -x "$tmp"/prometheus_*.deb "$tmp/x"
    [ -x "$tmp/x/usr/bin/promtool" ] || die "the prometheus package has no usr/bin/promtool"
    mkdir -p "$CACHE/tools"
    install -m 0755 "$tmp/x/usr/bin/promtool" "$CACHE/tools/promtool"
    log "promtool cached in $CACHE/tools"
}

# ansible-core from PyPI in a virtualenv of the cache, never on the machine's
# own Python. Pinned, so inventory tests and benchmarks compare against one
# Ansible; `$CACHE/tools/ansible/bin/ansible*` is what they run.
ANSIBLE_CORE_VERSION="${SCHEDFLEET_ANSIBLE_CORE_VERSION:-2.19.14}"
ansible() {
    local venv="$CACHE/tools/ansible"
    if [ -x "$venv/bin/ansible-inventory" ] &&
        [ "$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)' 2>/dev/null)" = "$ANSIBLE_CORE_VERSION" ]; then
        log "ansible-core $ANSIBLE_CORE_VERSION present"
        return
    fi
    command -v python3 >/dev/null || die "python3 is needed for ansible-core (tests and bench/fleet)"
    # A venv records its own path, so it is made in place; a failed install
    # leaves no half venv that the check above could take for a good one.
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian package python3-venv)"
    if ! "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_VERSION"; then
        rm -rf "$venv"
        die "pip install ansible-core==$ANSIBLE_CORE_VERSION failed; check access to PyPI"
    fi
    log "ansible-core $ANSIBLE_CORE_VERSION in $venv"
}

case "${1:-all}" in
    packages) packages ;;
    kernel) kernel ;;
    tools) tools; ansible ;;
    ansible) ansible ;;
    all) packages; kernel; tools; ansible ;;
    *) die "usage: $0 [packages|kernel|tools|ansible|all]" ;;
esac
