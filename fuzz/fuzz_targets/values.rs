//! Fuzzes the command-line value parsers of `src/values.rs` on arbitrary UTF-8: none may
//! panic, and what they accept must be what their doc comments promise (a duration in
//! (0 s, one year], a signal and a capability that parse back from their own names, an
//! exit code that fits a byte).

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/values.rs"]
mod values;

/// values.rs's `MAX_SECONDS`, restated: the fuzzer checks the promise, not the constant.
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

fuzz_target!(|text: &str| {
    if let Ok(duration) = values::parse_seconds(text) {
        assert!(
            !duration.is_zero(),
            "parse_seconds({text:?}) accepted a zero duration"
        );
        assert!(
            duration <= YEAR,
            "parse_seconds({text:?}) accepted {duration:?}, more than a year"
        );
    }
    if let Ok(signal) = values::parse_signal(text) {
        assert_eq!(values::parse_signal(signal.as_str()), Ok(signal));
        assert_eq!(
            values::parse_signal(&(signal as i32).to_string()),
            Ok(signal)
        );
    }
    if let Ok(capability) = values::parse_capability(text) {
        assert_eq!(
            values::parse_capability(&capability.to_string()),
            Ok(capability)
        );
    }
    if let Ok(code) = values::parse_exit_code(text) {
        assert!(
            (0..=255).contains(&code),
            "parse_exit_code({text:?}) = {code}"
        );
    }
});
