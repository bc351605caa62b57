#!/usr/bin/env bash
# Builds the Debian package target/debian/schedfleet_<version>_<arch>.deb
# and prints its path. Plain dpkg-deb over a staged tree: every file comes
# from this checkout or from the release binary itself (the static agent it
# embeds, completions and man pages through the hidden `schedfleet
# generate`), so the package cannot disagree with the binary, and nothing
# has to be installed from crates.io to build it.
#
#   packaging/deb/build.sh            # cargo build --release, then the package
#
# Contents:
#   /usr/bin/schedfleet                                  the CLI (agent built in)
#   /usr/lib/schedfleet/schedfleet-agent                 the same static agent, for inspection or manual installs
#   /usr/share/bash-completion/completions/schedfleet    completions
#   /usr/share/zsh/vendor-completions/_schedfleet
#   /usr/share/fish/vendor_completions.d/schedfleet.fish
#   /usr/share/man/man1/schedfleet*.1.gz                 one page per command
#   /usr/lib/systemd/system/schedfleet-drift.{service,timer}   from examples/drift-check/, not enabled
#   /usr/share/doc/schedfleet/                           README, docs/, examples/, copyright
set -euo pipefail
cd "$(dirname "$0")/../.."
CARGO=${CARGO:-cargo}

log() { printf 'deb: %s\n' "$*" >&2; }
die() { printf 'deb: error: %s\n' "$*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps gzip md5sum strip; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian packages dpkg-dev, binutils)"
done

"$CARGO" build --release --locked -p schedfleet >&2
sf=target/release/schedfleet
version=$("$sf" --version | head -n1 | cut -d' ' -f2)
arch=$(dpkg --print-architecture)
out=target/debian
root=$out/root
rm -rf "$root"
mkdir -p "$root/DEBIAN"

# Reproducible: every timestamp is the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

install -D -m 0755 "$sf" "$root/usr/bin/schedfleet"
# Debian ships stripped binaries; the agent's bytes are data and stay as they are.
strip --strip-unneeded "$root/usr/bin/schedfleet"
mkdir -p "$root/usr/lib/schedfleet"
"$root/usr/bin/schedfleet" generate agent "$root/usr/lib/schedfleet/schedfleet-agent" 2>/dev/null

gen=$out/generated
rm -rf "$gen"
"$root/usr/bin/schedfleet" generate completions "$gen/completions" 2>/dev/null
"$root/usr/bin/schedfleet" generate man "$gen/man" 2>/dev/null
install -D -m 0644 "$gen/completions/schedfleet.bash" "$root/usr/share/bash-completion/completions/schedfleet"
install -D -m 0644 "$gen/completions/_schedfleet" "$root/usr/share/zsh/vendor-completions/_schedfleet"
install -D -m 0644 "$gen/completions/schedfleet.fish" "$root/usr/share/fish/vendor_completions.d/schedfleet.fish"
mkdir -p "$root/usr/share/man/man1"
for page in "$gen"/man/*.1; do
    gzip -9n <"$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
done

for unit in schedfleet-drift.service schedfleet-drift.timer; do
    install -D -m 0644 "examples/drift-check/$unit" "$root/usr/lib/systemd/system/$unit"
done

doc=$root/usr/share/doc/schedfleet
install -D -m 0644 README.md "$doc/README.md"
install -D -m 0644 ARCHITECTURE.md "$doc/ARCHITECTURE.md"
mkdir -p "$doc/docs" "$doc/examples"
cp -r docs/. "$doc/docs/"
cp -r examples/quickstart examples/drift-check "$doc/examples/"
cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: schedfleet

Files: *
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
find "$doc" -type f -exec chmod 0644 {} +
find "$root" -type d -exec chmod 0755 {} +

# The libraries the CLI links (libc, libgcc_s, libm, zlib), as dpkg-shlibdeps
# finds them; it wants a debian/control, which a scratch directory provides.
shlib=$out/shlibdeps
rm -rf "$shlib"
mkdir -p "$shlib/debian"
printf 'Source: schedfleet\n\nPackage: schedfleet\nArchitecture: any\n' >"$shlib/debian/control"
abs_bin=$(cd "$root/usr/bin" && pwd)/schedfleet
shlibs=$(cd "$shlib" && dpkg-shlibdeps -O "$abs_bin" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies of $abs_bin"

installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: schedfleet
Version: $version
Architecture: $arch
Maintainer: schedfleet developers <schedfleet@localhost>
Installed-Size: $installed_kb
Depends: $shlibs, openssh-client
Recommends: git
Suggests: qemu-system-x86, busybox-static, openssh-server, cpio
Section: admin
Priority: optional
Description: roll out sched_ext CPU schedulers across fleets, the GitOps way
 schedfleet reads the desired state of a fleet (which sched_ext scheduler
 each host runs, with which parameters) from a git repository at a commit,
 pushes a small static agent and the BPF schedulers over SSH, and rolls them
 out in canary waves with health gates, automatic fallback and rollback.
 schedfleet drift runs from the shipped systemd timer or cron.
 .
 The static agent pushed to hosts is built into /usr/bin/schedfleet; a copy
 is in /usr/lib/schedfleet. schedfleet lab (local VMs with a sched_ext
 kernel) needs the suggested packages and a kernel from lab/setup.sh of the
 source tree.
EOF
# The units are shipped, never enabled: they need a user and a checkout of
# the config repository (see examples/drift-check/README.md). systemd only
# has to notice them.
for script in postinst postrm; do
    cat >"$root/DEBIAN/$script" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl --system daemon-reload >/dev/null || true
fi
EOF
    chmod 0755 "$root/DEBIAN/$script"
done
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/schedfleet_${version}_${arch}.deb
rm -f "$out"/schedfleet_*.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
log "built $deb ($(du -h "$deb" | cut -f1))"
echo "$(cd "$out" && pwd)/$(basename "$deb")"
