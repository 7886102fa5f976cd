//! Fuzzes `read_pid_hint` of `src/main_pid.rs` with arbitrary pid file contents. It only
//! reads a path (there is no pure parser to call), so each input is written to one file
//! in `$TMPDIR` first. It must never panic, and it accepts exactly the files whose
//! trimmed text is a decimal number from 2 to `i32::MAX` (PID 1 is refused as `Init`).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/main_pid.rs"]
mod main_pid;

use main_pid::{HintRejection, read_pid_hint};

/// main_pid.rs's `PID_FILE_MAX_BYTES`, restated.
const MAX_BYTES: usize = 4096;

/// One file per fuzzing process, so that parallel jobs (`-jobs`) do not share it.
fn pid_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("supervisor-fuzz-pid-hint.{}", std::process::id()))
    })
}

/// What the pid file means, by the rule the doc comment states; `None` if it names no
/// PID at all.
fn expected_pid(bytes: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if bytes.len() > MAX_BYTES
        || trimmed.is_empty()
        || !trimmed.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    trimmed
        .parse::<i64>()
        .ok()
        .filter(|&pid| (1..=i64::from(i32::MAX)).contains(&pid))
}

fuzz_target!(|bytes: &[u8]| {
    let path = pid_file();
    std::fs::write(path, bytes).expect("write the fuzz input to the pid file");
    let outcome = read_pid_hint(path);
    match (expected_pid(bytes), &outcome) {
        (Some(1), Err(HintRejection::Init)) => {}
        (Some(expected), Ok(pid)) if expected >= 2 => {
            assert_eq!(i64::from(pid.as_raw()), expected, "{bytes:?}");
        }
        (None, Err(HintRejection::Garbage(quote))) => {
            // One log line: at most 40 characters and an ellipsis.
            assert!(quote.chars().count() <= 43, "{quote:?}");
        }
        (expected, outcome) => {
            panic!("{bytes:?}: expected PID {expected:?}, read_pid_hint gave {outcome:?}")
        }
    }
});
