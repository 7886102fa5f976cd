//! Hands back the heap that the start-up used and freed.
//!
//! Parsing the command line builds clap's whole command tree (every flag, subcommand and
//! help text: about 70 KiB) and frees it again. glibc keeps freed pages for the next
//! allocations, but a guardian never needs that much heap again: once the app runs, it
//! uses about 20 KiB. malloc_trim(3) returns every whole free page of the heap to the
//! kernel, about 30 KiB of each guardian's own memory (README.md, Performance).

/// Returns the heap's free pages to the kernel; called once, when the set-up is over.
pub fn release_free_pages() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointer; it only gives back pages no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}
