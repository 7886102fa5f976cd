//! Hands back to the kernel the memory that a waiting guardian does not need: the heap
//! pages nothing uses and the pages of its own code and read-only data. A guardian
//! spends nearly all of its life asleep in poll(2), so what it keeps mapped while it
//! sleeps is what it costs the host (README.md, Performance, "Memory"). This module owns
//! the mechanism; the event loop decides when to call it.
//!
//! - **Heap.** Parsing the command line builds clap's whole command tree (about 70 KiB)
//!   and frees it; glibc keeps freed pages for later allocations. malloc_trim(3) returns
//!   every whole free page to the kernel.
//! - **Code.** The binary's text and read-only data are clean file pages. While this
//!   process maps them, nobody else does, so they count as its own (USS), and reclaim
//!   takes them last: the kernel gives referenced executable pages another trip around
//!   the active list (mm/vmscan.c, `shrink_active_list`). MADV_DONTNEED unmaps them; they
//!   stay in the page cache, and the next event maps back the part of the code it runs
//!   (a minor fault per 64 KiB window, the kernel's fault-around). Pages that this process
//!   wrote stay mapped: they are copies of its own (a debugger's breakpoint, a uprobe),
//!   and dropping them would lose what was written.
//!
//! Not the stack: the event loop's own frames reach as deep as the start-up's did
//! (36 KiB resident either way, measured), so there is nothing below them to free.

use std::fs::File;
use std::io;
use std::ops::Range;

/// /proc/PID/pagemap entry bits (kernel doc admin-guide/mm/pagemap.rst).
const PAGE_PRESENT: u64 = 1 << 63;
const PAGE_SWAPPED: u64 = 1 << 62;
const PAGE_FILE_OR_SHARED: u64 = 1 << 61;

/// What the guardian can hand back, found once at the end of its set-up.
pub struct Footprint {
    /// The binary's loaded segments that are never written: text and read-only data.
    code: Vec<Range<usize>>,
    pagemap: File,
    /// One pagemap entry per page of the largest `code` range.
    entries: Vec<u8>,
}

impl Footprint {
    /// Finds this program's read-only segments (from its program headers, as the kernel
    /// passed them in the auxiliary vector) and opens its pagemap.
    pub fn of_this_process() -> io::Result<Footprint> {
        let page = rustix::param::page_size();
        let code = read_only_segments(page);
        let pagemap = File::open("/proc/self/pagemap")?;
        let most_pages = code.iter().map(|range| range.len() / page).max();
        Ok(Footprint {
            code,
            pagemap,
            entries: vec![0; most_pages.unwrap_or(0) * 8],
        })
    }

    /// Hands back what the guardian holds and does not use while it waits. Every step is
    /// advice: a failure leaves the pages where they were, and the guardian works on.
    /// Inlined into the loop, with `unmap_unwritten_pages`: the code that runs after the
    /// last unmap is mapped back at once, and in the loop's own window it costs none
    /// (a lone guardian's USS 352 -> 292 KiB, `bench/bench.py --only idle`).
    #[inline(always)]
    pub fn release(&mut self) {
        release_free_heap();
        for range in &self.code {
            unmap_unwritten_pages(range, &self.pagemap, &mut self.entries);
        }
    }
}

/// Unmaps the pages of `range` that are still the file's own, in as few calls as the
/// pages this process wrote (or that went to swap) allow; `entries` has room for the
/// range's pagemap entries.
#[inline(always)]
fn unmap_unwritten_pages(range: &Range<usize>, pagemap: &File, entries: &mut [u8]) {
    let page = rustix::param::page_size();
    let entries = &mut entries[..range.len() / page * 8];
    let offset = (range.start / page * 8) as u64;
    let Ok(read) = rustix::io::pread(pagemap, &mut *entries, offset) else {
        return;
    };
    // Only the pages whose entries were read: of the others nothing is known.
    let entries = &entries[..read / 8 * 8];
    let end = range.start + entries.len() / 8 * page;
    let mut run_start = None;
    for (index, entry) in entries.chunks_exact(8).enumerate() {
        let entry = u64::from_ne_bytes(entry.try_into().unwrap_or_default());
        let written = entry & PAGE_SWAPPED != 0
            || (entry & PAGE_PRESENT != 0 && entry & PAGE_FILE_OR_SHARED == 0);
        let address = range.start + index * page;
        match (written, run_start) {
            (false, None) => run_start = Some(address),
            (true, Some(start)) => {
                unmap_clean(start..address);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        unmap_clean(start..end);
    }
}

/// Returns the heap's free pages to the kernel.
fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointer; it only gives back pages no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Unmaps clean file pages of the binary: the next access maps them again from the page
/// cache, with the same contents.
fn unmap_clean(range: Range<usize>) {
    // SAFETY: `range` lies in a read-only, file-backed segment of this program and holds
    // no page this process wrote (checked in its pagemap just before), so dropping the
    // mapping loses nothing: a later access reads the same bytes from the file.
    let _ = unsafe {
        rustix::mm::madvise(
            range.start as *mut std::ffi::c_void,
            range.len(),
            rustix::mm::Advice::LinuxDontNeed,
        )
    };
}

/// The page-aligned insides of this program's loaded segments that are never written
/// (text, read-only data), at their run-time addresses. Empty where the program headers
/// cannot be found (no PT_PHDR): then no code pages are released.
fn read_only_segments(page: usize) -> Vec<Range<usize>> {
    // SAFETY: getauxval reads the auxiliary vector the kernel gave this process.
    let (phdr, phnum) = unsafe {
        (
            libc::getauxval(libc::AT_PHDR) as usize,
            libc::getauxval(libc::AT_PHNUM) as usize,
        )
    };
    if phdr == 0 || phnum == 0 {
        return Vec::new();
    }
    // SAFETY: AT_PHDR and AT_PHNUM describe the program headers of this program, which
    // the loader mapped for the life of the process (ELF gABI; getauxval(3)).
    let headers = unsafe { std::slice::from_raw_parts(phdr as *const libc::Elf64_Phdr, phnum) };
    let Some(own) = headers.iter().find(|h| h.p_type == libc::PT_PHDR) else {
        return Vec::new();
    };
    let bias = phdr.wrapping_sub(own.p_vaddr as usize);
    headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0)
        .filter_map(|h| {
            let start = bias.wrapping_add(h.p_vaddr as usize);
            // Rounded inwards: a page shared with a writable segment stays.
            let range = start.next_multiple_of(page)..(start + h.p_memsz as usize) / page * page;
            (!range.is_empty()).then_some(range)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn finds_this_programs_text_among_its_read_only_segments() {
        let page = rustix::param::page_size();
        let segments = read_only_segments(page);
        let here = finds_this_programs_text_among_its_read_only_segments as *const () as usize;
        assert!(
            segments.iter().any(|range| range.contains(&here)),
            "{here:#x} in none of {segments:x?}"
        );
        assert!(
            segments
                .iter()
                .all(|range| range.start % page == 0 && range.end % page == 0)
        );
    }

    /// Written data survives a release: writable segments are left out, and a written
    /// page in a read-only one is kept. With both guards gone, this test process loses
    /// its data and dies of SIGSEGV (tried).
    #[test]
    fn release_keeps_written_data_and_code_runs_after_it() {
        static WRITTEN: AtomicU64 = AtomicU64::new(1);
        WRITTEN.store(0x5eed, Ordering::Relaxed);
        let mut footprint = Footprint::of_this_process().expect("footprint of this process");
        assert!(!footprint.code.is_empty());
        footprint.release();
        assert_eq!(WRITTEN.load(Ordering::Relaxed), 0x5eed);
    }
}
