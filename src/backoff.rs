//! The delay before a restart (DESIGN.md section 6). Pure.
//!
//! Restart k (k = failures in a row) waits 0 for the first failure after a stable run,
//! then 1 s, 2 s, 4 s, ... capped at the delay limit: the original tool's schedule.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// `-l, --delay-limit`: no delay is ever longer.
    pub limit: Duration,
    /// `--stable-after`: a run that lived this long resets the failure streak.
    pub stable_after: Duration,
}

impl Backoff {
    /// The failure streak after a run of length `run` ended in a failure, given the
    /// streak before it.
    pub fn failures_after(&self, previous: u32, run: Duration) -> u32 {
        todo!("{previous} {run:?}")
    }

    /// How long to wait before restart number `failures` (1 = the first failure in a row).
    pub fn delay(&self, failures: u32) -> Duration {
        todo!("{failures}")
    }
}
