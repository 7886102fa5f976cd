//! Writes the man page (`supervisor.8`) and the bash, zsh and fish completions into
//! `OUT_DIR`, from the very clap definitions the binary parses with, so they never drift
//! from `--help`. It does not install or copy them anywhere: `packaging/build-deb` asks
//! cargo where `OUT_DIR` is (`--message-format=json`) and hands them to cargo-deb.
//!
//! It also links gcc's unwinder into the binary instead of loading libgcc_s at every
//! start (`build/unwinder.rs`).
//!
//! The hand-written sections (EXIT STATUS, RESTARTS, SIGNALS, CONTROL SOCKET, FILES) restate DESIGN.md
//! sections 6, 7 and 9; change them with the code they describe.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

// The build script's own copies of the CLI modules: `cli.rs` names `crate::values`, which
// resolves here to the `values` below. (Both are fully used through the derive, so no
// `allow(dead_code)` is needed; add one here if a helper the build never calls appears.)
#[path = "src/values.rs"]
mod values;

#[path = "src/cli.rs"]
mod cli;

#[path = "build/unwinder.rs"]
mod unwinder;

/// Where the binary is installed: system administration, so section 8.
const MAN_SECTION: &str = "8";

fn main() -> io::Result<()> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/cli.rs");
    println!("cargo::rerun-if-changed=src/values.rs");
    println!("cargo::rerun-if-changed=build/unwinder.rs");
    unwinder::link_statically();

    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out_dir = Path::new(&out_dir);
    write_man_page(out_dir)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cli::Cli::command(), "supervisor", out_dir)?;
    }
    Ok(())
}

/// The generated parts in clap_mangen's order, then ours; clap's `after_help` (the
/// "EXTRA" section) is left out because EXIT STATUS says the same at length.
fn write_man_page(out_dir: &Path) -> io::Result<()> {
    let man = Man::new(cli::Cli::command())
        .section(MAN_SECTION)
        .manual("System Administration");
    let mut file = File::create(out_dir.join(format!("supervisor.{MAN_SECTION}")))?;
    man.render_title(&mut file)?;
    // No hyphenation: a hyphenated `--stop-time-out` reads as a flag that does not exist.
    file.write_all(Roff::new().control("nh", []).render().as_bytes())?;
    man.render_name_section(&mut file)?;
    man.render_synopsis_section(&mut file)?;
    man.render_description_section(&mut file)?;
    man.render_options_section(&mut file)?;
    file.write_all(hand_written_sections().render().as_bytes())?;
    man.render_version_section(&mut file)?;
    file.flush()
}

fn hand_written_sections() -> Roff {
    let mut roff = Roff::new();

    roff.control("SH", ["EXIT STATUS"]);
    for (status, meaning) in [
        (
            "0",
            "The guardian stopped cleanly (SIGTERM or SIGINT), or the app ended with a \
               success code and no restart applies.",
        ),
        (
            "the app's status",
            "When the app ended and no restart applies: its exit code, or \
               128 plus the number of the signal that killed it, as a shell reports it.",
        ),
        (
            "1",
            "A runtime failure of the guardian itself (cgroup, lock, signal set-up).",
        ),
        (
            "2",
            "A usage or configuration error: a bad option or value, an unknown user or \
               group.",
        ),
        ("126", "The program was found but cannot be executed."),
        ("127", "The program was not found."),
    ] {
        item(&mut roff, status, meaning);
    }

    roff.control("SH", ["RESTARTS"]);
    roff.text([roman(
        "When the app ends (its main process exited and no successor took over), the \
         guardian classifies how it ended:",
    )]);
    for (end, meaning) in [
        (
            "exit code in the success list",
            "Clean: never restarts. The list is {0} plus \
          every code given with -s.",
        ),
        ("any other exit code", "An error: restarts with -e."),
        (
            "death by SIGTERM, SIGINT or SIGQUIT",
            "Deliberate: never restarts.",
        ),
        (
            "death by any other signal",
            "A crash (SIGSEGV, SIGABRT, SIGKILL, ...): restarts \
          with -c.",
        ),
    ] {
        item(&mut roff, end, meaning);
    }
    roff.control("PP", []);
    roff.text([
        roman(
            "The delay before a restart is 0 for the first failure after a stable run, \
               then 1 s, 2 s, 4 s, ... doubling up to ",
        ),
        bold("--delay-limit"),
        roman(" (-l). A run that lived "),
        bold("--stable-after"),
        roman(
            " seconds (default: the delay limit) resets the count. The guardian answers \
               signals while it waits. A stop the guardian asked for is never a failure.",
        ),
    ]);

    roff.control("SH", ["SIGNALS"]);
    item(
        &mut roff,
        "SIGTERM, SIGINT",
        "Stop the app: send the stop signal (--stop-signal, default SIGTERM), then SIGCONT, \
         to the main process; after --stop-timeout seconds kill everything left in the \
         app's cgroup with SIGKILL; then exit 0.",
    );
    item(
        &mut roff,
        "SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGTTIN, SIGTTOU, SIGCONT",
        "Forwarded to the app's main process as they are.",
    );
    item(
        &mut roff,
        "SIGQUIT",
        "Forwarded to the main process; it asks for a graceful stop (nginx), so an app \
         that dies of it is not restarted.",
    );

    roff.control("SH", ["CONTROL SOCKET"]);
    roff.text([roman(
        "A running guardian answers HTTP/1.1 with JSON on the unix socket \
         /run/supervisor/NAME.sock (--control), mode 0600 root, or 0660 with \
         --control-group, whose members may use it too (checked with SO_PEERCRED). The \
         client is the same binary: supervisor COMMAND [NAME] [--control PATH] [--json]; \
         it exits 0 done, 1 refused or failed, 2 usage error, 3 not running.",
    )]);
    item(
        &mut roff,
        "status",
        "GET /status: state, main PID, uptime, restarts, last exit, cgroup and its processes. Without NAME: every guardian in /run/supervisor.",
    );
    item(
        &mut roff,
        "GET /metrics",
        "Prometheus text: up, state, restarts, main PID changes, last exit, start time, and the cgroup's memory, CPU and process count where the hierarchy has them.",
    );
    item(
        &mut roff,
        "signal SIG",
        "POST /signal/SIG: sends SIG to the main process.",
    );
    item(
        &mut roff,
        "stop, start, restart",
        "POST /stop, /start, /restart: stop the app (the guardian stays), start it again, or both; answered once done.",
    );
    item(
        &mut roff,
        "upgrade",
        "POST /upgrade: sends --upgrade-signal (USR2), waits for a new master that is ready (it has children, and the -P file names it if there is one), sends WINCH (with --upgrade-winch) and QUIT to the old master, and adopts the new one when the old exits. If none is ready within --upgrade-timeout, the old master keeps serving (HUP if WINCH was sent) and the answer says why. A new master that dies within a few milliseconds is only noticed at the timeout.",
    );
    item(
        &mut roff,
        "reload",
        "POST /reload: sends --reload-signal (HUP; USR2 for haproxy -W) and waits for a new worker of the main process.",
    );
    item(
        &mut roff,
        "reexec",
        "POST /reexec: the guardian executes its own binary again (after a package upgrade), keeping its PID, the app and its counts.",
    );
    item(
        &mut roff,
        "exit",
        "POST /exit: stop the app and the guardian.",
    );

    roff.control("SH", ["FILES"]);
    item(
        &mut roff,
        "/run/supervisor/NAME.lock",
        "Held (flock) for the guardian's whole life: a second guardian with the same \
         --name refuses to start and names the holder's PID.",
    );
    item(
        &mut roff,
        "/run/supervisor/NAME.sock",
        "The control socket (see CONTROL SOCKET).",
    );
    item(
        &mut roff,
        "/usr/lib/systemd/system/supervisor@.service",
        "One guardian per app under systemd; the instance NAME reads its command from \
         /etc/default/supervisor-NAME.",
    );

    roff.control("SH", ["EXAMPLES"]);
    roff.control("EX", []);
    roff.text([roman(
        "supervisor -c --name haproxy -- /usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg",
    )]);
    roff.text([roman(
        "supervisor -f -p /run/nginx-guardian.pid -P /run/nginx.pid -- /usr/sbin/nginx",
    )]);
    roff.control("EE", []);

    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("systemd.service"),
        roman("(5), "),
        bold("systemd.resource-control"),
        roman("(5), "),
        bold("cgroups"),
        roman("(7), "),
        bold("signal"),
        roman("(7)"),
    ]);
    roff
}

/// One tagged paragraph: the term in bold, its meaning indented below.
fn item(roff: &mut Roff, term: &str, meaning: &str) {
    roff.control("TP", []);
    roff.text([bold(term)]);
    roff.text([roman(meaning)]);
}
