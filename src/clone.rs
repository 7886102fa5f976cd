//! Making the app's process: clone3(2) into its cgroup (`CLONE_INTO_CGROUP`) with a pidfd
//! (`CLONE_PIDFD`), sharing the guardian's memory until exec on x86_64 (`CLONE_VM |
//! CLONE_VFORK`, as posix_spawn(3) and Go's os/exec do), and plain fork(2) where clone3
//! is refused.
//!
//! Why share memory: a fork copies the guardian's page tables and write-protects its own
//! (a TLB shootdown on every CPU it ran on), the exec right after throws the copy away,
//! and the guardian then takes a copy-on-write fault on each page it writes. `perf record`
//! of a crash loop put 40% of the guardian's CPU per restart there (bench/README.md).
//! With `CLONE_VFORK` the guardian sleeps until the child has exec'd or exited, so the
//! child may run in the guardian's memory, on a stack of its own ([`ChildStack`]).
//!
//! What the child does is not decided here: it runs the closure it is given, which must
//! end in exec or `_exit` and make syscalls only (spawn.rs).

use std::convert::Infallible;
use std::ffi::c_void;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};
use nix::unistd::{ForkResult, Pid, fork};

/// The child's side: `true` when the kernel already placed it in the cgroup.
pub type ChildMain<'a> = &'a mut dyn FnMut(bool) -> Infallible;

/// `struct clone_args` of clone3(2) (linux/sched.h, CLONE_ARGS_SIZE_VER2): not in glibc's
/// headers, nor in the libc crate for glibc targets.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

// Only x86_64 shares memory with the child (see `clone3_running`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CLONE_VM: u64 = 0x100;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The child's stack while it shares the guardian's memory: 64 KiB above a guard page,
/// made once. Only the pages the child touches become resident.
pub struct ChildStack {
    base: NonNull<c_void>,
}

const STACK_LEN: usize = 64 * 1024;
const GUARD_LEN: usize = 4096;

impl ChildStack {
    pub fn new() -> Result<ChildStack, Errno> {
        let length = std::num::NonZeroUsize::new(GUARD_LEN + STACK_LEN).ok_or(Errno::EINVAL)?;
        // SAFETY: a fresh private anonymous mapping, owned by the returned value alone.
        let base = unsafe {
            mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK | MapFlags::MAP_NORESERVE,
            )?
        };
        let stack = ChildStack { base };
        // SAFETY: the lowest page of our own mapping; an overflow faults instead of
        // writing into whatever lies below.
        unsafe { mprotect(stack.base, GUARD_LEN, ProtFlags::PROT_NONE)? };
        Ok(stack)
    }

    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn bottom(&self) -> u64 {
        self.base.as_ptr() as u64 + GUARD_LEN as u64
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no child runs on it once spawn has returned.
        let _ = unsafe { munmap(self.base, GUARD_LEN + STACK_LEN) };
    }
}

/// A process made by [`clone3`]; by the time it is returned, the child has exec'd or
/// exited (x86_64) or at least exists (elsewhere).
pub struct Cloned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

/// clone3 into `cgroup` (where given) with a pidfd, the child running `child(in_cgroup)`.
/// `Err` with ENOSYS, E2BIG, EINVAL or EPERM means this kernel (or a seccomp filter)
/// refuses clone3 or one of its flags: use [`fork_child`].
pub fn clone3(
    cgroup: Option<BorrowedFd<'_>>,
    stack: &ChildStack,
    child: ChildMain<'_>,
) -> Result<Cloned, Errno> {
    let mut pidfd: RawFd = -1;
    let mut flags = CLONE_PIDFD;
    if cgroup.is_some() {
        flags |= CLONE_INTO_CGROUP;
    }
    let mut entry = Entry {
        child,
        in_cgroup: cgroup.is_some(),
    };
    let mut args = CloneArgs {
        flags,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
        ..CloneArgs::default()
    };
    let ret = clone3_running(&mut args, stack, &mut entry);
    if ret < 0 {
        return Err(Errno::from_raw(-ret as i32));
    }
    Ok(Cloned {
        pid: Pid::from_raw(ret as i32),
        // SAFETY: clone3 made this descriptor for us (CLONE_PIDFD); nothing else owns it.
        pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
    })
}

/// fork(2), the child running `child(false)`.
pub fn fork_child(child: ChildMain<'_>) -> Result<Pid, Errno> {
    // SAFETY: the guardian is single-threaded, so no lock can be held by another thread
    // across the fork; the child runs only `child`, which ends in exec or _exit.
    match unsafe { fork() }? {
        ForkResult::Child => run_forked(child),
        ForkResult::Parent { child } => Ok(child),
    }
}

/// The child's side of [`fork_child`].
fn run_forked(child: ChildMain<'_>) -> ! {
    match child(false) {}
}

/// What the child's first frame receives.
struct Entry<'a> {
    child: ChildMain<'a>,
    in_cgroup: bool,
}

/// The child's first frame, on its own stack. Never returns: there is no frame above it.
extern "C" fn run_child(entry: *mut Entry<'_>) -> ! {
    // SAFETY: `entry` points into the frame of `clone3`, which stays alive and untouched
    // while the parent sleeps (CLONE_VFORK) or, without CLONE_VM, in our own copy of it.
    let entry = unsafe { &mut *entry };
    match (entry.child)(entry.in_cgroup) {}
}

/// The raw clone3 call: returns the child's PID, or -errno. The child starts on `stack`
/// (x86_64) and runs [`run_child`].
#[cfg(target_arch = "x86_64")]
fn clone3_running(args: &mut CloneArgs, stack: &ChildStack, entry: &mut Entry<'_>) -> i64 {
    args.flags |= CLONE_VM | CLONE_VFORK;
    args.stack = stack.bottom();
    args.stack_size = STACK_LEN as u64;
    let ret: i64;
    // SAFETY: in the parent this is a syscall that clobbers rax, rcx and r11 only, and
    // (CLONE_VFORK) returns once the child has exec'd or exited, so nothing it shares is
    // in use at the same time. The child starts with rsp at the top of `stack` (64 KiB,
    // 16-byte aligned, guard page below) and calls `run_child`, which never returns; it
    // never reaches the parent's frames. rbp is cleared so that unwinders stop there.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call {run_child}",
            "ud2",
            "2:",
            run_child = sym run_child,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &raw const *args,
            in("rsi") size_of::<CloneArgs>(),
            in("r12") &raw mut *entry,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Elsewhere: clone3 as a fork (a copy of our memory); the child returns here and runs
/// [`run_child`] on the copy of this stack.
#[cfg(not(target_arch = "x86_64"))]
fn clone3_running(args: &mut CloneArgs, _stack: &ChildStack, entry: &mut Entry<'_>) -> i64 {
    // SAFETY: without CLONE_VM this is fork(2) with a cgroup and a pidfd: the child gets
    // a copy of this single-threaded process; the kernel reads `args` and writes `pidfd`.
    let ret = i64::from(unsafe {
        libc::syscall(libc::SYS_clone3, &raw const *args, size_of::<CloneArgs>())
    });
    match ret {
        0 => run_child(entry),
        pid if pid > 0 => pid,
        _ => -(Errno::last() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{WaitStatus, waitpid};

    #[test]
    fn runs_the_child_in_a_process_of_its_own_and_returns_its_pid() {
        let stack = ChildStack::new().expect("stack");
        let parent = std::process::id();
        let mut child = |in_cgroup: bool| -> Infallible {
            // Exits 7 if it runs in another process, outside any cgroup it was given.
            let code = if std::process::id() != parent && !in_cgroup {
                7
            } else {
                1
            };
            // SAFETY: _exit(2) ends the child without touching the shared memory.
            unsafe { libc::_exit(code) }
        };
        let cloned = clone3(None, &stack, &mut child).expect("clone3");
        assert_eq!(
            waitpid(cloned.pid, None).expect("waitpid"),
            WaitStatus::Exited(cloned.pid, 7)
        );
    }
}
