#!/bin/bash
# Checks the systemd units in packaging/systemd/ and the example environment file:
# the keys the guardian relies on (a parser check, one line per missing key), then
# `systemd-analyze verify` on a scratch root, so the units parse as systemd parses them.
#
# verify runs without systemd as PID 1. It needs the `systemd` package (Debian 12:
# installing it without systemd-sysv does not change the init; .ci/run installs it).
# It prints unknown keys and bad values as warnings and still exits 0, so any output
# at all is a failure here.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
units="$here/systemd"
check=units
source "$here/lib.sh"

# value_of FILE SECTION KEY: the last value of KEY in [SECTION] (systemd: last one wins).
value_of() {
    awk -v section="[$2]" -v key="$3" '
        /^[[:space:]]*[#;]/ { next }
        /^\[/ { in_section = ($0 == section); next }
        in_section && index($0, key "=") == 1 { value = substr($0, length(key) + 2); found = 1 }
        END { if (found) print value; exit !found }
    ' "$1"
}

# expect FILE SECTION KEY VALUE
expect() {
    local actual
    if ! actual=$(value_of "$1" "$2" "$3"); then
        fail "$(basename "$1"): [$2] has no $3= (want $3=$4)"
    elif [[ "$actual" != "$4" ]]; then
        fail "$(basename "$1"): [$2] $3=$actual (want $3=$4)"
    fi
}

for unit in "$units/supervisor@.service" "$units/haproxy-supervised.service"; do
    if [[ ! -f "$unit" ]]; then
        fail "missing $unit"
        continue
    fi
    expect "$unit" Service Type simple
    expect "$unit" Service Delegate yes
    expect "$unit" Service KillMode mixed
    expect "$unit" Service Restart on-failure
    expect "$unit" Service RestartPreventExitStatus 2
    expect "$unit" Install WantedBy multi-user.target
    exec_start=$(value_of "$unit" Service ExecStart) || exec_start=""
    [[ "$exec_start" == "/usr/sbin/supervisor "* ]] ||
        fail "$(basename "$unit"): ExecStart does not run /usr/sbin/supervisor: '$exec_start'"
    [[ "$exec_start" == *" -- /"* || "$exec_start" == *" -- \$SUPERVISOR_COMMAND" ]] ||
        fail "$(basename "$unit"): ExecStart has no '-- <absolute program>': '$exec_start'"
    documentation=$(value_of "$unit" Unit Documentation) || documentation=""
    [[ "$documentation" == *"man:supervisor(8)"* ]] ||
        fail "$(basename "$unit"): Documentation= does not name man:supervisor(8)"
done

template="$units/supervisor@.service"
if [[ -f "$template" ]]; then
    expect "$template" Service EnvironmentFile /etc/default/supervisor-%i
    # Unbraced: split at whitespace into arguments (systemd.service(5), "Command lines").
    # shellcheck disable=SC2016 # the unit's text, not ours to expand
    expect "$template" Service ExecStart \
        '/usr/sbin/supervisor --name %i $SUPERVISOR_OPTS -- $SUPERVISOR_COMMAND'
fi

example="$here/supervisor-example"
if [[ -f "$example" ]]; then
    # The file must mean what the unit reads: source it in a clean shell and look.
    # shellcheck disable=SC2016 # expanded by the inner bash
    command=$(env -i bash -c 'source "$1" && printf %s "$SUPERVISOR_COMMAND"' _ "$example")
    # shellcheck disable=SC2016 # expanded by the inner bash
    opts=$(env -i bash -c 'source "$1" && printf %s "${SUPERVISOR_OPTS-unset}"' _ "$example")
    [[ "$command" == /* ]] ||
        fail "supervisor-example: SUPERVISOR_COMMAND is not an absolute program: '$command'"
    [[ "$opts" != unset ]] || fail "supervisor-example: SUPERVISOR_OPTS is not set"
    [[ "$opts" != *--name* ]] ||
        fail "supervisor-example: SUPERVISOR_OPTS sets --name, which the unit already sets"
else
    fail "missing $example"
fi

if ! command -v systemd-analyze >/dev/null; then
    fail "systemd-analyze not found: apt-get install --no-install-recommends systemd"
else
    # A scratch root: the distribution's units (for the targets named in the units),
    # ours under /etc, and stand-ins for the programs the units run, which verify
    # requires to be executable. The parser check above pins their paths.
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/sbin" "$root/bin"
    cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
    cp "$units"/*.service "$root/etc/systemd/system/"
    for program in /usr/sbin/supervisor /bin/kill; do
        cp /bin/true "$root$program"
    done
    # --man=no: the page is in the package, not on this machine; man.sh checks it.
    if ! output=$(systemd-analyze verify --root="$root" --man=no \
        "$root"/etc/systemd/system/*.service 2>&1) || [[ -n "$output" ]]; then
        while IFS= read -r line; do
            fail "systemd-analyze verify: ${line//$root/}"
        done <<<"${output:-exited non-zero without output}"
    fi
fi

finish
