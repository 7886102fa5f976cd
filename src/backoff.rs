//! The delay before a restart (DESIGN.md section 6). Pure.
//!
//! Restart k (k = failures in a row) waits 0 for the first failure after a stable run,
//! then 1 s, 2 s, 4 s, ... capped at the delay limit: the original tool's schedule.
//! Whether a restart happens at all is `policy`'s question, and when it happens is the
//! state machine's; this module only does the arithmetic.

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
        if run >= self.stable_after {
            // The streak decays: after a stable run this failure is the first of a new one,
            // so a long-lived app that crashes comes back at once.
            1
        } else {
            previous.saturating_add(1)
        }
    }

    /// How long to wait before restart number `failures` (1 = the first failure in a row).
    pub fn delay(&self, failures: u32) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        // 2^(k-2) seconds; a shift past 63 bits is longer than any limit anyway.
        let delay = 1u64
            .checked_shl(failures - 2)
            .map_or(Duration::MAX, Duration::from_secs);
        delay.min(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(limit: u64, stable_after: u64) -> Backoff {
        Backoff {
            limit: Duration::from_secs(limit),
            stable_after: Duration::from_secs(stable_after),
        }
    }

    #[test]
    fn waits_nothing_first_then_doubles_from_one_second() {
        let delays: Vec<u64> = (1..=8)
            .map(|k| backoff(1000, 80).delay(k).as_secs())
            .collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn never_waits_longer_than_the_limit() {
        let backoff = backoff(80, 80);
        assert_eq!(backoff.delay(8), Duration::from_secs(64));
        assert_eq!(backoff.delay(9), Duration::from_secs(80));
        assert_eq!(backoff.delay(10), Duration::from_secs(80));
    }

    #[test]
    fn survives_an_endless_streak_without_overflow() {
        let backoff = backoff(80, 80);
        for k in [63, 64, 65, 66, 1000, u32::MAX] {
            assert_eq!(backoff.delay(k), Duration::from_secs(80), "k = {k}");
        }
    }

    #[test]
    fn treats_an_empty_streak_like_the_first_failure() {
        assert_eq!(backoff(80, 80).delay(0), Duration::ZERO);
    }

    #[test]
    fn counts_failures_in_a_row_while_runs_are_short() {
        let backoff = backoff(80, 80);
        let short = Duration::from_secs(79);
        assert_eq!(backoff.failures_after(0, short), 1);
        assert_eq!(backoff.failures_after(1, short), 2);
        assert_eq!(backoff.failures_after(6, short), 7);
        assert_eq!(backoff.failures_after(u32::MAX, short), u32::MAX);
    }

    #[test]
    fn restarts_the_streak_after_a_stable_run() {
        let backoff = backoff(80, 80);
        assert_eq!(backoff.failures_after(9, Duration::from_secs(80)), 1);
        assert_eq!(backoff.failures_after(9, Duration::from_secs(3600)), 1);
        assert_eq!(
            backoff.delay(backoff.failures_after(9, Duration::from_secs(80))),
            Duration::ZERO
        );
    }
}
