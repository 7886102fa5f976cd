//! Links gcc's unwinder (`libgcc_eh.a`) into the binary, as `gcc -static-libgcc` does, so
//! the guardian does not load `libgcc_s.so.1` at every start.
//!
//! Why: std needs an unwinder (for panics and backtraces) and on linux-gnu asks for
//! libgcc_s. Loading it costs every start an open, four mmaps, its relocations and its
//! constructor `__cpu_indicator_init`, which probes the CPU with CPUID; in a virtual
//! machine each CPUID traps to the hypervisor. Where no other process maps libgcc_s, its
//! pages also count as the guardian's own (USS). README.md, section Performance, has the
//! figures.
//!
//! How: the whole archive is linked (`+whole-archive`), so every `_Unwind_*` symbol is
//! defined in the binary whatever the link order (with or without LTO), the linker's
//! `--as-needed` then drops libgcc_s, and every Rust frame unwinds through that one copy.
//! (glibc loads libgcc_s on its own for pthread_cancel and backtrace(3); the guardian
//! uses neither, and no unwind would cross the two copies anyway.) Where the C
//! compiler has no `libgcc_eh.a` (clang without gcc, another libc) nothing changes: the
//! binary links libgcc_s as before.

use std::env;
use std::path::PathBuf;
use std::process::Command;

pub fn link_statically() {
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    // Tells the test that checks the guardian's maps whether libgcc_s should be absent.
    println!("cargo::rustc-check-cfg=cfg(static_unwinder)");
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !linux_gnu {
        return;
    }
    match archive_path() {
        Some(archive) => {
            let dir = archive.parent().unwrap_or(&archive);
            println!("cargo::rustc-link-search=native={}", dir.display());
            println!("cargo::rustc-link-lib=static:+whole-archive=gcc_eh");
            println!("cargo::rustc-cfg=static_unwinder");
        }
        None => {
            println!(
                "cargo::warning=no libgcc_eh.a known for this target: the binary will load libgcc_s.so.1"
            )
        }
    }
}

/// `libgcc_eh.a` as the linker rustc calls (`cc` unless configured) finds it. A cross
/// build without a configured linker is left alone: the host's `cc` would name the
/// host's archive.
fn archive_path() -> Option<PathBuf> {
    let linker = match env::var("RUSTC_LINKER") {
        Ok(linker) => linker,
        Err(_) if env::var("HOST").ok() == env::var("TARGET").ok() => "cc".to_owned(),
        Err(_) => return None,
    };
    let output = Command::new(linker)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    // A compiler that lacks the file prints its bare name back.
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}
