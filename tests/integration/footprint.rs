//! What a running guardian holds of the host beyond its app.

use std::fs;
use std::ops::Range;

use nix::sys::ptrace;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::harness::{Guardian, PATIENCE, View, run_cli};
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

/// The start-up frees clap's whole command tree (about 70 KiB); src/footprint.rs gives those
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

/// Between events the guardian keeps only the code it runs to fall asleep mapped
/// (src/footprint.rs): about a quarter of its text in a release build, a third in a
/// debug one, against nearly all of it before (97% in a debug build, measured), once it
/// has started and again after a restart has run its other code.
#[test]
fn idle_guardian_unmaps_the_code_it_does_not_run() {
    let b = Guardian::build(View::V2, "footprint-code");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).arg("-c").start();
    let first = g.wait_for_pids("pids", 1)[0];
    let text = code_mapping(g.pid());
    let at_most_half_mapped = || {
        let entries = page_entries(g.pid(), &text);
        entries.iter().filter(|entry| entry.is_present()).count() * 2 <= entries.len()
    };
    g.wait_until(
        PATIENCE,
        "at most half of the guardian's code mapped",
        at_most_half_mapped,
    );
    kill(first, Signal::SIGKILL).expect("failed to kill the app");
    g.wait_for_pids("pids", 2);
    g.wait_until(
        PATIENCE,
        "at most half of the code mapped after a restart",
        at_most_half_mapped,
    );
}

/// A page of code that the guardian's process wrote is its own copy (a debugger's
/// breakpoint, a uprobe): handing back its code must keep it, or the breakpoint would be
/// lost. Here ptrace writes a word of the guardian's code back unchanged, as a debugger
/// removing a breakpoint does, which makes the page a private copy.
#[test]
fn guardian_keeps_the_code_pages_a_debugger_wrote() {
    let b = Guardian::build(View::V2, "footprint-ptrace");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    g.wait_for_pids("pids", 1);
    let pid = g.pid();
    let text = code_mapping(pid);
    let page = rustix::param::page_size();
    let pages = text.len() / page;
    let written = text.start + pages / 2 * page;
    // Pages across the text that the debugger only reads, which maps them: once one of
    // them is unmapped again, the guardian has handed back its code since the write.
    let read: Vec<usize> = (1..8)
        .map(|eighth| text.start + pages * eighth / 8 * page + page)
        .filter(|&address| address != written && text.contains(&address))
        .collect();

    let stopped = Stopped::seize(pid);
    for &address in &read {
        ptrace::read(pid, address as ptrace::AddressType).expect("failed to read its code");
    }
    let word = ptrace::read(pid, written as ptrace::AddressType).expect("failed to read");
    ptrace::write(pid, written as ptrace::AddressType, word).expect("failed to write");
    drop(stopped);

    // Control: the write made the page a private copy, and the reads mapped their pages.
    g.check(
        page_entry(pid, written).is_private_copy(),
        "the written page to be a private copy",
    );
    g.check(
        read.iter()
            .all(|&address| page_entry(pid, address).is_present()),
        "the pages read to be mapped",
    );
    // The request wakes the guardian; when it falls asleep again it hands back its code.
    let status = run_cli(["status", g.name()]);
    g.check(
        status.code == Some(0),
        &format!("status to answer: {status:?}"),
    );
    g.wait_until(
        PATIENCE,
        "a page the debugger read to be unmapped again",
        || {
            read.iter()
                .any(|&address| !page_entry(pid, address).is_present())
        },
    );
    g.check(
        page_entry(pid, written).is_private_copy(),
        "the written page to stay mapped, a private copy",
    );
}

/// The guardian's text: the executable mapping of its own binary.
fn code_mapping(pid: Pid) -> Range<usize> {
    let exe = fs::read_link(format!("/proc/{pid}/exe")).expect("failed to read the exe link");
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("failed to read maps");
    maps.lines()
        .find(|line| line.contains(" r-xp ") && line.ends_with(exe.to_str().unwrap_or("?")))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|range| range.split_once('-'))
        .and_then(|(start, end)| {
            Some(usize::from_str_radix(start, 16).ok()?..usize::from_str_radix(end, 16).ok()?)
        })
        .unwrap_or_else(|| panic!("no code mapping of {exe:?} in:\n{maps}"))
}

/// A guardian stopped under ptrace; dropping it lets the guardian run on, also when a
/// step of the test panics.
struct Stopped(Pid);

impl Stopped {
    fn seize(pid: Pid) -> Stopped {
        ptrace::seize(pid, ptrace::Options::empty()).expect("failed to seize the guardian");
        let stopped = Stopped(pid);
        ptrace::interrupt(pid).expect("failed to interrupt the guardian");
        waitpid(pid, None).expect("failed to wait for the guardian to stop");
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Err(errno) = ptrace::detach(self.0, None) {
            eprintln!("failed to detach from the guardian {}: {errno}", self.0);
        }
    }
}

/// A /proc/PID/pagemap entry (kernel doc admin-guide/mm/pagemap.rst).
struct PageEntry(u64);

impl PageEntry {
    fn is_present(&self) -> bool {
        self.0 & (1 << 63) != 0
    }

    /// Present, and not the file's page: the process's own copy.
    fn is_private_copy(&self) -> bool {
        self.is_present() && self.0 & (1 << 61) == 0
    }
}

/// The pagemap entries of the pages of `range` in `pid`, read at once.
fn page_entries(pid: Pid, range: &Range<usize>) -> Vec<PageEntry> {
    let page = rustix::param::page_size();
    let pagemap = fs::File::open(format!("/proc/{pid}/pagemap")).expect("failed to open pagemap");
    let mut bytes = vec![0u8; range.len() / page * 8];
    std::os::unix::fs::FileExt::read_exact_at(
        &pagemap,
        &mut bytes,
        (range.start / page * 8) as u64,
    )
    .expect("failed to read pagemap");
    bytes
        .chunks_exact(8)
        .map(|entry| PageEntry(u64::from_ne_bytes(entry.try_into().unwrap_or_default())))
        .collect()
}

fn page_entry(pid: Pid, address: usize) -> PageEntry {
    let page = rustix::param::page_size();
    let start = address / page * page;
    page_entries(pid, &(start..start + page))
        .pop()
        .expect("one pagemap entry")
}
