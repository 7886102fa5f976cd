#!/bin/bash
# Renders the man page that build.rs generated (groff with every warning on, then
# `man -l` as a reader sees it) and checks it against the binary built from the same
# sources: every short and long flag that `supervisor --help` shows must appear in the
# page's OPTIONS section, and the hand-written sections must be there.
# Installs groff-base and man-db when missing.
set -uo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here" || exit 1
check=man
source packaging/lib.sh

apt_install jq=jq groff=groff-base man=man-db
# shellcheck disable=SC2119 # the dev profile: no arguments
if ! locate_build; then
    fail "cargo build failed or did not report the man page"
    finish
fi
page="$OUT_DIR/supervisor.8"

# groff -ww: all warnings; -z: no output. Any diagnostic fails.
while IFS= read -r line; do
    fail "groff: $line"
done < <(groff -man -Tutf8 -ww -z "$page" 2>&1)

# As man(1) shows it, in plain text: no bold overstrikes, ASCII hyphens.
if ! rendered=$(MANWIDTH=100 MAN_KEEP_FORMATTING=0 LC_ALL=C.UTF-8 man -E ascii -l "$page" \
    2>&1 | col -b); then
    fail "man -l $page failed: $rendered"
    finish
fi
grep -q '^ *\(supervisor\|SUPERVISOR\)(8)' <<<"$rendered" || fail "the page is not titled supervisor(8)"

# section NAME: the text between the heading NAME and the next heading.
section() {
    awk -v name="$1" '/^[A-Z][A-Z ]*$/ { inside = ($0 == name); next } inside' <<<"$rendered"
}

for heading in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" RESTARTS SIGNALS; do
    grep -qx "$heading" <<<"$rendered" || fail "no section $heading"
done

help=$("$BINARY" --help)
# Flags as --help lists them: the option lines ("  -f, --fork", "      --name <NAME>").
flags=$(grep -E '^ +-' <<<"$help" | grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,')
[[ $(wc -l <<<"$flags") -ge 10 ]] || fail "found only $(wc -l <<<"$flags") flags in --help: parsing is broken"
options=$(section OPTIONS)
for flag in $flags; do
    grep -qE -- "(^|[^A-Za-z-])${flag}([^A-Za-z-]|$)" <<<"$options" ||
        fail "$flag is in --help but not in the man page's OPTIONS"
done

exit_status=$(section "EXIT STATUS")
for code in 0 1 2 126 127 128; do
    grep -qw -- "$code" <<<"$exit_status" || fail "EXIT STATUS does not mention $code"
done
signals=$(section SIGNALS)
for signal in TERM INT HUP USR1 USR2 WINCH ALRM TTIN TTOU CONT QUIT KILL; do
    grep -qw -- "SIG$signal" <<<"$signals" || fail "SIGNALS does not mention SIG$signal"
done
restarts=$(tr '\n' ' ' <<<"$(section RESTARTS)" | tr -s ' ')
for phrase in -e -c --delay-limit --stable-after "1 s, 2 s, 4 s"; do
    grep -qF -- "$phrase" <<<"$restarts" || fail "RESTARTS does not mention '$phrase'"
done

finish
