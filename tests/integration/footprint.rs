//! What a running guardian holds of the host beyond its app.

use std::fs;

use nix::unistd::Pid;

use crate::harness::{Guardian, View, run_cli};
use crate::payloads;

/// build/unwinder.rs links gcc's unwinder into the binary, so no start pays for loading
/// libgcc_s.so.1 (and its CPUID probe); it must not come back through a dependency.
/// Where the build found no libgcc_eh.a (it warns), the binary loads libgcc_s as before.
#[test]
#[cfg_attr(
    not(static_unwinder),
    ignore = "built without libgcc_eh.a (see the build warning): libgcc_s is expected"
)]
fn guardian_maps_libc_but_no_libgcc_s() {
    let b = Guardian::build(View::V2, "footprint");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    g.wait_for_pids("pids", 1);
    let maps = fs::read_to_string(format!("/proc/{}/maps", g.pid()))
        .expect("failed to read the guardian's maps");
    // Control: the listing does show the shared libraries the guardian loaded.
    g.check(maps.contains("libc.so"), "the guardian's maps to list libc");
    g.check(
        !maps.contains("libgcc_s"),
        &format!("no libgcc_s in the guardian's maps:\n{maps}"),
    );
}

/// The start-up frees clap's whole command tree (about 70 KiB); src/heap.rs gives those
/// pages back once the app runs, so the heap keeps only what the guardian still uses.
/// Without it the heap held 88 to 96 KiB (release and debug builds), with it 56 to 60.
#[test]
fn guardian_hands_back_the_heap_its_start_up_freed() {
    let b = Guardian::build(View::V2, "footprint-heap");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    g.wait_for_pids("pids", 1);
    // The event loop answers this, and it trims before its first wait.
    let status = run_cli(["status", g.name()]);
    g.check(
        status.code == Some(0),
        &format!("status to answer: {status:?}"),
    );
    let heap = resident_kib(g.pid(), "[heap]");
    g.check(
        heap <= HEAP_LIMIT_KIB,
        &format!("a heap of at most {HEAP_LIMIT_KIB} KiB resident, not {heap} KiB"),
    );
}

const HEAP_LIMIT_KIB: u64 = 72;

/// The `Rss` of the mapping of `pid` named `name` in its `/proc/PID/smaps`.
fn resident_kib(pid: Pid, name: &str) -> u64 {
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps"))
        .expect("failed to read the guardian's smaps");
    smaps
        .lines()
        .skip_while(|line| !line.ends_with(name))
        .skip(1)
        .find_map(|line| line.strip_prefix("Rss:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Rss of {name} in the smaps of {pid}:\n{smaps}"))
}
