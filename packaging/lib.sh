# shellcheck shell=bash
# Shared by packaging/build-deb and packaging/tests/*.sh; source it, do not run it.

# apt_install PROGRAM=PACKAGE...: installs the packages whose program is missing, with
# apt-get update only if the first attempt fails (a stale list is the common cause).
apt_install() {
    local pair packages=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || packages+=("${pair#*=}")
    done
    ((${#packages[@]} > 0)) || return 0
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >&2; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >&2
    fi
}

# locate_build [CARGO BUILD ARGS...]: builds, then sets OUT_DIR (where build.rs wrote
# the man page and completions) and BINARY (the supervisor executable), as cargo's JSON
# messages report them: OUT_DIR has a hash in its name and stale ones may sit next to
# it, so a glob could pick the wrong one.
locate_build() {
    local messages
    messages=$(cargo build --locked --message-format=json-render-diagnostics "$@") || return 1
    OUT_DIR=$(jq -r 'select(.reason == "build-script-executed"
                            and (.package_id | test("#supervisor@|supervisor[ @]")))
                     | .out_dir' <<<"$messages" | tail -n 1)
    BINARY=$(jq -r 'select(.reason == "compiler-artifact" and .target.name == "supervisor"
                           and (.target.kind | index("bin"))) | .executable' <<<"$messages" |
        tail -n 1)
    if [[ -z "$OUT_DIR" || ! -f "$OUT_DIR/supervisor.8" || ! -x "$BINARY" ]]; then
        echo "cargo did not report the build script's OUT_DIR or the supervisor binary" >&2
        return 1
    fi
}

# cargo_version: the package version in Cargo.toml.
cargo_version() {
    cargo metadata --no-deps --format-version 1 --locked |
        jq -r '.packages[] | select(.name == "supervisor") | .version'
}

# The checks in packaging/tests report one `FAIL <check>: ...` line per failure and end
# with `finish`. Each sets `check` (its name) before sourcing this file.
failures=0

fail() {
    echo "FAIL ${check:-check}: $*"
    failures=$((failures + 1))
}

finish() {
    if ((failures > 0)); then
        echo "${check:-check}.sh: $failures failure(s)"
        exit 1
    fi
    echo "${check:-check}.sh: ok"
    exit 0
}
