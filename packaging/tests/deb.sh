#!/bin/bash
# Builds the .deb (packaging/build-deb), checks that every file it must ship is in it,
# runs lintian (any E: line fails; warnings are printed), installs it into a fresh root,
# runs the installed supervisor --version against Cargo.toml's version, and purges it,
# checking that nothing is left behind.
#
# The fresh root is `dpkg --root` with an empty dpkg database, not `dpkg -x`: it runs
# the real unpack, postinst, postrm and purge paths, so a broken maintainer script or a
# file left after purge shows here. --force-script-chrootless runs the scripts with
# DPKG_ROOT set instead of chroot (the root has no /bin/sh); --force-depends because
# the empty root has no libc6 (the binary runs with the host's). The machine itself is
# never touched.
set -uo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here" || exit 1
check=deb
source packaging/lib.sh

if ! deb=$(packaging/build-deb | tail -n 1) || [[ ! -f "$deb" ]]; then
    fail "packaging/build-deb did not produce a .deb"
    finish
fi
echo "deb.sh: built $deb"

version=$(cargo_version)
arch=$(dpkg --print-architecture)
# cargo-deb takes the version from Cargo.toml, the changelog from packaging/debian/.
head -n 1 packaging/debian/changelog | grep -qF "cgroup-supervisor (${version}-" ||
    fail "packaging/debian/changelog's first entry is not for version ${version}: add one"

[[ "$(basename "$deb")" == "cgroup-supervisor_${version}-"*"_${arch}.deb" ]] ||
    fail "file name $(basename "$deb") is not cgroup-supervisor_${version}-<revision>_${arch}.deb"

# --- contents -------------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb" | awk '{ print $1 " " $6 }')
# path and mode
for expected in \
    "-rwxr-xr-x ./usr/sbin/supervisor" \
    "-rw-r--r-- ./usr/lib/systemd/system/supervisor@.service" \
    "-rw-r--r-- ./usr/lib/systemd/system/haproxy-supervised.service" \
    "-rw-r--r-- ./usr/share/man/man8/supervisor.8.gz" \
    "-rw-r--r-- ./usr/share/bash-completion/completions/supervisor" \
    "-rw-r--r-- ./usr/share/zsh/vendor-completions/_supervisor" \
    "-rw-r--r-- ./usr/share/fish/vendor_completions.d/supervisor.fish" \
    "-rw-r--r-- ./usr/share/doc/cgroup-supervisor/copyright" \
    "-rw-r--r-- ./usr/share/doc/cgroup-supervisor/changelog.Debian.gz" \
    "-rw-r--r-- ./usr/share/doc/cgroup-supervisor/examples/supervisor-example"; do
    grep -qxF -- "$expected" <<<"$contents" || fail "not in the package: $expected"
done
# Debian's supervisor (supervisord) owns these: we must never ship them.
for foreign in ./usr/bin/supervisord ./usr/bin/supervisorctl ./etc/default/supervisor \
    ./usr/share/man/man1/supervisor.1.gz ./lib/systemd/system/supervisor.service \
    ./usr/lib/systemd/system/supervisor.service; do
    ! grep -q " $foreign\$" <<<"$contents" || fail "ships $foreign, a file of Debian's supervisor"
done

extract=$(mktemp -d)
trap 'rm -rf "$extract"' EXIT
dpkg-deb -x "$deb" "$extract/x"
copyright="$extract/x/usr/share/doc/cgroup-supervisor/copyright"
if [[ -f "$copyright" ]]; then
    head -n 1 "$copyright" |
        grep -qxF "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" ||
        fail "copyright is not in the machine-readable format (first line)"
    grep -qxF "Copyright: 2026 The supervisor authors" "$copyright" ||
        fail "copyright does not say 'Copyright: 2026 The supervisor authors'"
    grep -qxF "License: MIT" "$copyright" || fail "copyright does not say 'License: MIT'"
fi
man_page="$extract/x/usr/share/man/man8/supervisor.8.gz"
if [[ -f "$man_page" ]]; then
    gzip -t "$man_page" 2>/dev/null || fail "supervisor.8.gz is not valid gzip"
    zcat "$man_page" | grep -q '^\.TH supervisor 8 ' || fail "supervisor.8.gz has no '.TH supervisor 8'"
fi
for completion in usr/share/bash-completion/completions/supervisor \
    usr/share/zsh/vendor-completions/_supervisor \
    usr/share/fish/vendor_completions.d/supervisor.fish; do
    [[ ! -f "$extract/x/$completion" ]] || grep -q 'stop-timeout' "$extract/x/$completion" ||
        fail "$completion does not mention stop-timeout"
done

depends=$(dpkg-deb -f "$deb" Depends)
[[ "$depends" == *libc6* ]] || fail "Depends has no libc6 (\$auto from shlibs): '$depends'"
[[ "$(dpkg-deb -f "$deb" Package)" == cgroup-supervisor ]] || fail "Package is not cgroup-supervisor"

# --- lintian --------------------------------------------------------------------------
lintian_output=$(lintian --pedantic "$deb" 2>/dev/null)
while IFS= read -r line; do
    case "$line" in
        E:*) fail "lintian: $line" ;;
        ?:*) echo "deb.sh: lintian (allowed): $line" ;;
    esac
done <<<"$lintian_output"

# --- install, run, purge --------------------------------------------------------------
root="$extract/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status"
dpkg_root=(dpkg --root="$root" --force-script-chrootless --force-not-root --force-depends
    --log=/dev/null)
if ! install_log=$("${dpkg_root[@]}" -i "$deb" 2>&1); then
    fail "dpkg --root -i failed: $(tail -n 1 <<<"$install_log")"
else
    [[ "$(dpkg-query --root="$root" -W -f '${Status}' cgroup-supervisor)" == "install ok installed" ]] ||
        fail "cgroup-supervisor is not 'install ok installed' in the fresh root"
    installed_version=$("$root/usr/sbin/supervisor" --version 2>&1)
    [[ "$installed_version" == "supervisor $version" ]] ||
        fail "installed supervisor --version says '$installed_version', Cargo.toml says $version"
    if ! purge_log=$("${dpkg_root[@]}" --purge cgroup-supervisor 2>&1); then
        fail "dpkg --root --purge failed: $(tail -n 1 <<<"$purge_log")"
    fi
    left=$(cd "$root" && find . -mindepth 1 -not -path './var' -not -path './var/lib' \
        -not -path './var/lib/dpkg' -not -path './var/lib/dpkg/*')
    [[ -z "$left" ]] || fail "left after purge: $(tr '\n' ' ' <<<"$left")"
    [[ -z "$(dpkg-query --root="$root" -W -f '${Status}' cgroup-supervisor 2>/dev/null)" ]] ||
        fail "cgroup-supervisor still known to dpkg after purge"
fi

finish
