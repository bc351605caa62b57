#!/usr/bin/env bash
# Installs what building schedfleet and running its VM lab need on a Debian 12
# machine, and fetches the lab's sched_ext kernel into a cache. Idempotent: a
# second run with everything present only checks and returns.
#
#   lab/setup.sh            # packages + kernel + test tools
#   lab/setup.sh packages   # Debian packages only
#   lab/setup.sh kernel     # kernels only: the newest and the oldest sched_ext release
#   lab/setup.sh kernel RELEASE...  # these releases too (`7.2.9` or `7.2.9+deb13-cloud-amd64`)
#   lab/setup.sh tools      # promtool (checks drift's Prometheus output in tests) and
#                           # ansible-core in a virtualenv (the oracle of inventory tests and
#                           # the baseline of bench/fleet)
#   lab/setup.sh debroot    # a clean Debian root (debootstrap minbase, packed into the cache)
#                           # that the package test installs the .deb into
#   lab/setup.sh scx        # the upstream sched-ext/scx scheduler scx_bpfland built from
#                           # crates.io, cached per crate version and toolchain, for the
#                           # upstream-scx example, its lab tests and bench/serve.sh
#   lab/setup.sh scx cosmos # scx_cosmos too (no test rolls it out: CI does not build it)
#
# Kernels land side by side in ${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}/kernel/<release>/
# (vmlinuz, config, modules). Two symlinks name the kernel matrix: `current`, the newest
# sched_ext release, which `schedfleet lab up` boots by default, and `oldest`, the oldest
# release with sched_ext that the lab can boot (`schedfleet lab up --kernel oldest`), on
# which `make test` runs the lab tests a second time.
set -euo pipefail

CACHE="${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}"
# The kernel release pattern: Debian's trixie-backports cloud kernels with sched_ext.
KERNEL_PATTERN="${SCHEDFLEET_KERNEL_PATTERN:-^linux-binary-[0-9]+\.[0-9.]+\+deb13-cloud-amd64$}"

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

# One release of the suite in the cache, side by side with the others:
# $CACHE/kernel/<release>/{vmlinuz,config,release,modules/*.ko}.
kernel_complete() { # dir
    local m
    [ -f "$1/vmlinuz" ] && [ -f "$1/config" ] && [ -s "$1/release" ] || return 1
    for m in failover net_failover virtio_net; do
        [ -f "$1/modules/$m.ko" ] || return 1
    done
}

# trixie-backports with a pin of 50: nothing on this machine is ever
# upgraded from it; we only download kernel packages.
kernel_suite() {
    [ "$suite_ready" = 0 ] || return 0
    need_root kernel
    mkdir -p /etc/apt/sources.list.d /etc/apt/preferences.d
    write_if_changed /etc/apt/sources.list.d/schedfleet-trixie-backports.sources "Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" || true
    write_if_changed /etc/apt/preferences.d/schedfleet-trixie-backports "Package: *
Pin: release n=trixie-backports
Pin-Priority: 50" || true
    apt_update
    suite_ready=1
}
suite_ready=0

# The releases whose kernel image the suite lists, oldest first. A listed
# image is not yet a usable kernel: see fetch_kernel.
suite_releases() {
    apt-cache search --names-only "$KERNEL_PATTERN" | awk '{print $1}' | sed 's/^linux-binary-//' | sort -V
}

# Caches RELEASE unless it is cached already. Returns 1, saying why, when the
# lab cannot boot it: one of its three packages is not in the suite (Debian
# keeps signed images listed after the unsigned build's packages are gone:
# no config, no virtio_net module, so no network in the VM), a download
# fails, or its config lacks sched_ext. The config is fetched first (1 MB),
# so a kernel without sched_ext costs no image download.
fetch_kernel() { # release
    local release=$1 dir="$CACHE/kernel/$1" pkg
    if kernel_complete "$dir"; then
        return 0
    fi
    for pkg in "linux-binary-$release" "linux-base-$release" "linux-modules-$release"; do
        # Not `grep -q`: it would close the pipe early, and pipefail takes
        # apt-cache's SIGPIPE for a missing package.
        if ! apt-cache show "$pkg" 2>/dev/null | grep '^Package: ' >/dev/null; then
            log "kernel $release: not usable: the suite lists no $pkg"
            return 1
        fi
    done
    local tmp
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt's _apt user downloads into it
    if ! (cd "$tmp" && apt-get download -qq "linux-base-$release" >/dev/null); then
        rm -rf "$tmp"
        log "kernel $release: not usable: apt-get download linux-base-$release failed"
        return 1
    fi
    dpkg -x "$tmp"/linux-base-*.deb "$tmp/x"
    local mod="$tmp/x/usr/lib/modules/$release"
    if ! grep -qx 'CONFIG_SCHED_CLASS_EXT=y' "$mod/config" 2>/dev/null; then
        rm -rf "$tmp"
        log "kernel $release: not usable: its config lacks CONFIG_SCHED_CLASS_EXT=y (no sched_ext)"
        return 1
    fi
    if ! (cd "$tmp" && apt-get download -qq "linux-binary-$release" "linux-modules-$release" >/dev/null); then
        rm -rf "$tmp"
        log "kernel $release: not usable: apt-get download of linux-binary-$release or linux-modules-$release failed"
        return 1
    fi
    for deb in "$tmp"/linux-binary-*.deb "$tmp"/linux-modules-*.deb; do dpkg -x "$deb" "$tmp/x"; done
    # Newer packages keep the image beside the modules, older ones in /boot.
    local vmlinuz="$mod/vmlinuz"
    [ -f "$vmlinuz" ] || vmlinuz="$tmp/x/boot/vmlinuz-$release"
    if [ ! -f "$vmlinuz" ]; then
        rm -rf "$tmp"
        log "kernel $release: not usable: linux-binary-$release holds no vmlinuz"
        return 1
    fi
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp/modules"
    cp "$vmlinuz" "$dir.tmp/vmlinuz"
    cp "$mod/config" "$dir.tmp/config"
    local m f
    for m in failover net_failover virtio_net; do
        f=$(find "$mod" -name "$m.ko*" | head -n1)
        if [ -z "$f" ]; then
            rm -rf "$tmp" "$dir.tmp"
            log "kernel $release: not usable: module $m not found in linux-modules-$release"
            return 1
        fi
        case "$f" in
            *.xz) xz -dc "$f" >"$dir.tmp/modules/$m.ko" ;;
            *.zst) zstd -qdc "$f" >"$dir.tmp/modules/$m.ko" ;;
            *) cp "$f" "$dir.tmp/modules/$m.ko" ;;
        esac
    done
    printf '%s\n' "$release" >"$dir.tmp/release"
    rm -rf "$tmp" "$dir"
    mv "$dir.tmp" "$dir"
    log "kernel $release cached in $dir"
}

# Points the alias NAME (current, oldest) at the first usable release of
# the list on stdin.
kernel_alias() { # name what
    local name=$1 what=$2 release
    while read -r release; do
        if fetch_kernel "$release"; then
            ln -sfn "$release" "$CACHE/kernel/$name.new"
            mv -T "$CACHE/kernel/$name.new" "$CACHE/kernel/$name"
            log "kernel $name -> $release ($what sched_ext release of trixie-backports)"
            return 0
        fi
    done
    die "no usable sched_ext kernel matching \`$KERNEL_PATTERN\` in trixie-backports (see the reasons above)"
}

# The kernel matrix: `current` (the newest sched_ext release, what `schedfleet
# lab up` boots by default) and `oldest` (the oldest one the lab can boot,
# for the second pass of the lab tests), plus any release named on the
# command line (`7.2.9` or `7.2.9+deb13-cloud-amd64`).
kernel() {
    mkdir -p "$CACHE/kernel"
    local name
    for name in current oldest; do
        if kernel_complete "$CACHE/kernel/$name"; then
            log "kernel $name present: $(readlink "$CACHE/kernel/$name")"
            continue
        fi
        kernel_suite
        case "$name" in
            current) suite_releases | sort -rV | kernel_alias current newest ;;
            oldest) suite_releases | kernel_alias oldest oldest ;;
        esac
    done
    local want release
    for want in "$@"; do
        case "$want" in
            */* | .* | "") die "\`$want\` is not a kernel release" ;;
        esac
        release=$want
        if kernel_complete "$CACHE/kernel/$release"; then
            log "kernel $release present"
            continue
        fi
        kernel_suite
        if [[ "$want" =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
            release=$(suite_releases | grep -F "$want+" | grep "^$want+" | tail -n1 || true)
            [ -n "$release" ] || die "trixie-backports lists no kernel $want; it lists: $(suite_releases | tr '\n' ' ')"
        fi
        fetch_kernel "$release" || die "kernel $release cannot be used by the lab (the reason is above)"
    done
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

# A clean Debian root for the package test (packaging/deb/test.sh installs
# the .deb into a fresh copy of it with apt-get): bookworm minbase from
# debootstrap, with apt's lists, packed once into the cache.
DEBROOT_SUITE="${SCHEDFLEET_DEBROOT_SUITE:-bookworm}"
debroot() {
    local tarball="$CACHE/deb-root/$DEBROOT_SUITE-minbase.tar.zst"
    if [ -s "$tarball" ]; then
        log "clean Debian root present: $tarball"
        return
    fi
    need_root debroot
    if ! command -v debootstrap >/dev/null; then
        apt_update
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
            || die "apt-get install debootstrap failed"
    fi
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    log "debootstrap --variant=minbase $DEBROOT_SUITE (once; cached in $tarball)"
    debootstrap --variant=minbase "$DEBROOT_SUITE" "$tmp/root" http://deb.debian.org/debian >"$tmp/log" 2>&1 \
        || { tail -n 20 "$tmp/log" >&2; die "debootstrap of $DEBROOT_SUITE failed"; }
    cp /etc/resolv.conf "$tmp/root/etc/resolv.conf"
    chroot "$tmp/root" apt-get update -qq || die "apt-get update in the clean root failed"
    chroot "$tmp/root" apt-get clean
    : >"$tmp/root/etc/resolv.conf"
    mkdir -p "$CACHE/deb-root"
    tar -C "$tmp/root" --numeric-owner -I 'zstd -q -T0 -3' -cf "$tarball.tmp" . || die "packing the clean root failed"
    mv "$tarball.tmp" "$tarball"
    log "clean Debian root cached in $tarball ($(du -h "$tarball" | cut -f1))"
}

# Upstream sched-ext/scx schedulers from crates.io, built once per crate
# version and Rust toolchain into
#   $CACHE/scx/<crate>-<version>-rustc<rustc version>/bin/<crate>
# (an interrupted build leaves no directory the check below could take for a
# finished one), plus the stable path examples and tests name:
#   $CACHE/scx/bin/<crate>  ->  that build
# and the shared libraries the dynamic binaries need beside them in
# $CACHE/scx/lib/ (the lab's VMs lack libelf, libgcc_s and libm): schedfleet
# pushes them as the scheduler's `libs:`.
SCX_BPFLAND_VERSION="${SCHEDFLEET_SCX_BPFLAND_VERSION:-1.1.4}"
SCX_COSMOS_VERSION="${SCHEDFLEET_SCX_COSMOS_VERSION:-1.1.7}"
scx_build() { # crate version
    local crate=$1 version=$2 rustc_v dir
    rustc_v=$(rustc --version | awk '{print $2}') || die "rustc is needed to build $crate"
    dir="$CACHE/scx/$crate-$version-rustc$rustc_v"
    mkdir -p "$CACHE/scx/bin"
    if [ -x "$dir/bin/$crate" ]; then
        log "$crate $version (rustc $rustc_v) present"
    else
        command -v clang-19 >/dev/null || die "clang-19 is needed to build $crate (lab/setup.sh packages)"
        log "building $crate $version from crates.io with rustc $rustc_v (minutes; cached in $dir)"
        rm -rf "$dir.tmp"
        local started=$SECONDS
        if ! BPF_CLANG=clang-19 cargo install --locked --quiet --root "$dir.tmp" --version "$version" "$crate" \
            >"$CACHE/scx/$crate.log" 2>&1; then
            rm -rf "$dir.tmp"
            tail -n 20 "$CACHE/scx/$crate.log" >&2
            return 1
        fi
        rm -f "$dir.tmp/.crates.toml" "$dir.tmp/.crates2.json"
        mv "$dir.tmp" "$dir"
        log "$crate $version built in $((SECONDS - started)) s"
    fi
    ln -sfn "$dir/bin/$crate" "$CACHE/scx/bin/$crate"
    # Every library the binary links besides glibc's own C library and
    # loader (the lab's VMs carry those of this machine), by the name the
    # binary asks for.
    mkdir -p "$CACHE/scx/lib"
    local name path
    while read -r name path; do
        case "$name" in libc.so.*|ld-linux*|linux-vdso*) continue ;; esac
        [ -f "$path" ] || die "$crate needs $name, which ldd does not find"
        cp -L "$path" "$CACHE/scx/lib/$name.tmp"
        mv "$CACHE/scx/lib/$name.tmp" "$CACHE/scx/lib/$name"
    done < <(ldd "$dir/bin/$crate" | awk '$2 == "=>" {print $1, $3}')
}
scx() { # [cosmos]
    command -v cargo >/dev/null || die "cargo is needed to build the upstream scx schedulers"
    scx_build scx_bpfland "$SCX_BPFLAND_VERSION" || die "scx_bpfland $SCX_BPFLAND_VERSION did not build (log above)"
    if [ "${1:-}" = cosmos ]; then
        scx_build scx_cosmos "$SCX_COSMOS_VERSION" || die "scx_cosmos $SCX_COSMOS_VERSION did not build (log above)"
    fi
}

case "${1:-all}" in
    packages) packages ;;
    kernel) shift; kernel "$@" ;;
    tools) tools; ansible ;;
    ansible) ansible ;;
    debroot) debroot ;;
    scx) shift; scx "$@" ;;
    all) packages; kernel; tools; ansible; debroot; scx ;;
    *) die "usage: $0 [packages|kernel [RELEASE...]|tools|ansible|debroot|scx [cosmos]|all]" ;;
esac
