#!/usr/bin/env bash
# The Debian package as a user gets it: built with packaging/deb/build.sh,
# installed with `apt-get install ./schedfleet_*.deb` into a fresh copy of
# a clean Debian root (bookworm minbase, cached by `lab/setup.sh debroot`;
# apt fetches the package's dependencies from Debian's mirror), then run
# from the installed files only: `schedfleet --version` (which must name
# the agent shipped beside it), `validate` of the quickstart committed in a
# git repository there, `lab status`, the bash completion loaded by bash,
# and the man pages, completions, units and docs checked present. Removing
# the package must remove its files. Needs root (chroot, mounts).
#
#   packaging/deb/test.sh [DEB]      # default: build it
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}"
SUITE="${SCHEDFLEET_DEBROOT_SUITE:-bookworm}"
tarball="$CACHE/deb-root/$SUITE-minbase.tar.zst"

step() { printf 'deb-test: %s\n' "$*" >&2; }
fail() { printf 'deb-test: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (chroot and mounts); run it as root"
[ -s "$tarball" ] || fail "no clean Debian root at $tarball; run \`lab/setup.sh debroot\`"

deb=${1:-$(packaging/deb/build.sh)}
[ -f "$deb" ] || fail "no package at $deb"

work=$(mktemp -d /tmp/sf-deb-test-XXXX)
root=$work/root
archives="$CACHE/deb-root/archives"
mkdir -p "$root" "$archives/partial"
cleanup() {
    for m in "$root/var/cache/apt/archives" "$root/proc"; do
        mountpoint -q "$m" && umount "$m"
    done
    rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
tar -C "$root" --numeric-owner -I zstd -xf "$tarball"
mount -t proc proc "$root/proc"
# Downloaded dependencies are kept across runs.
mount --bind "$archives" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

step "apt-get install ./$(basename "$deb")"
install() {
    in_root sh -c 'cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o APT::Keep-Downloaded-Packages=true "$@"' \
        sh "./$(basename "$deb")"
}
# The cached lists may be older than the mirror: refresh them and retry once.
if ! install >"$work/apt.log" 2>&1; then
    step "apt-get update (cached lists are stale)"
    in_root apt-get update -qq || fail "apt-get update in the clean root failed"
    install >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; fail "apt-get install of the package failed"; }
fi
step "  $(grep -c '^Setting up ' "$work/apt.log") package(s) set up: $(grep -o '^Setting up schedfleet ([^)]*)' "$work/apt.log" || echo 'not schedfleet?')"

step "schedfleet --version names the agent the package ships"
version=$(in_root schedfleet --version) || fail "schedfleet --version failed"
printf '%s\n' "$version" | sed 's/^/  /' >&2
shipped=$(in_root sha256sum /usr/lib/schedfleet/schedfleet-agent | cut -c1-64)
[[ "$version" == *"sha256:$shipped"* ]] || fail "--version does not name the shipped agent's digest $shipped"
in_root sh -c 'head -c 4 /usr/lib/schedfleet/schedfleet-agent | od -An -c | grep -q "E   L   F"' \
    || fail "/usr/lib/schedfleet/schedfleet-agent is no ELF file"

step "files: completions, man pages, units, docs"
for f in /usr/bin/schedfleet \
    /usr/share/bash-completion/completions/schedfleet \
    /usr/share/zsh/vendor-completions/_schedfleet \
    /usr/share/fish/vendor_completions.d/schedfleet.fish \
    /usr/share/man/man1/schedfleet.1.gz /usr/share/man/man1/schedfleet-apply.1.gz \
    /usr/share/man/man1/schedfleet-lab-status.1.gz \
    /usr/lib/systemd/system/schedfleet-drift.service /usr/lib/systemd/system/schedfleet-drift.timer \
    /usr/share/doc/schedfleet/README.md /usr/share/doc/schedfleet/docs/output.md /usr/share/doc/schedfleet/copyright; do
    [ -s "$root$f" ] || fail "$f is missing from the installed package"
done
in_root sh -c 'gzip -dc /usr/share/man/man1/schedfleet-apply.1.gz | grep -q "^\.TH"' || fail "schedfleet-apply.1.gz is no man page"
# The service runs the installed binary.
grep -q "^ExecStart=.*/usr/bin/schedfleet drift" "$root/usr/lib/systemd/system/schedfleet-drift.service" \
    || fail "the drift service does not run /usr/bin/schedfleet"
# bash loads the completion and completes the verbs.
words=$(in_root bash -c 'source /usr/share/bash-completion/completions/schedfleet
    COMP_WORDS=(schedfleet ap); COMP_CWORD=1; COMP_LINE="schedfleet ap"; COMP_POINT=${#COMP_LINE}
    _schedfleet schedfleet ap schedfleet; printf "%s\n" "${COMPREPLY[@]}"') || fail "the bash completion does not load"
grep -qx apply <<<"$words" || fail "bash completes \`schedfleet ap\` to: $words"

step "validate the quickstart, committed in a git repository in the root"
mkdir -p "$root/root/quickstart"
cp -r examples/quickstart/. "$root/root/quickstart/"
in_root sh -c 'cd /root/quickstart && git init -q && git add -A &&
    git -c user.name=test -c user.email=test@localhost commit -q -m quickstart' || fail "git commit in the root failed"
out=$(in_root schedfleet validate --repo /root/quickstart 2>&1) || { printf '%s\n' "$out" >&2; fail "validate failed"; }
printf '%s\n' "$out" | sed 's/^/  /' >&2
[[ "$out" == *"valid"* ]] || fail "validate did not say the repository is valid"

step "lab status"
json=$(in_root schedfleet lab status --json) || fail "lab status --json failed"
[ "$json" = "[]" ] || fail "lab status --json in a clean root printed: $json"
in_root schedfleet lab status >/dev/null 2>"$work/lab.err" || fail "lab status failed"
grep -q "no VMs running" "$work/lab.err" || fail "lab status said: $(cat "$work/lab.err")"

step "apt-get remove leaves none of its files"
in_root apt-get remove -y -q schedfleet >"$work/remove.log" 2>&1 || { tail "$work/remove.log" >&2; fail "apt-get remove failed"; }
for f in /usr/bin/schedfleet /usr/lib/schedfleet/schedfleet-agent /usr/share/man/man1/schedfleet.1.gz; do
    [ ! -e "$root$f" ] || fail "$f is left after apt-get remove"
done

step "ok: $(basename "$deb") installs, runs and removes cleanly in a clean $SUITE root ($(($(date +%s) - started)) s)"
