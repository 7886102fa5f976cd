//! Parsers for the values typed on the command line: durations, signals, exit codes.
//!
//! clap calls them, so a bad value is reported as clap reports any usage error: one line
//! naming the option, exit 2.

use std::time::Duration;

use caps::Capability;
use nix::sys::signal::Signal;

/// The longest duration accepted anywhere (a year): anything longer is a typo, and
/// `Instant + Duration` must never overflow.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Decimal seconds, greater than zero: `80`, `0.5`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("'{text}' must be more than 0 seconds"));
    }
    if seconds > MAX_SECONDS {
        return Err(format!("'{text}' is more than a year"));
    }
    // Below a nanosecond `Duration` rounds to zero, which is no more than 0 seconds
    // (found by fuzz/values: `1e-10` was a stop timeout of nothing).
    let duration = Duration::from_secs_f64(seconds);
    if duration.is_zero() {
        return Err(format!("'{text}' must be more than 0 seconds"));
    }
    Ok(duration)
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number (`15`).
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("'{text}' is not a signal number"));
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("'{text}' is not a signal name"))
}

/// A capability by name, with or without `CAP_`, in any case: `net_bind_service`.
pub fn parse_capability(text: &str) -> Result<Capability, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    name.parse::<Capability>()
        .map_err(|_| format!("'{text}' is not a capability name (see capabilities(7))"))
}

/// An exit code, 0 to 255.
pub fn parse_exit_code(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<u8>()
        .map(i32::from)
        .map_err(|_| format!("'{text}' is not an exit code (0 to 255)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_decimals_and_refuse_zero_negative_and_garbage() {
        assert_eq!(parse_seconds("80"), Ok(Duration::from_secs(80)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "abc", "", "NaN", "inf", "1e300", "1e-10"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals_by_name_in_any_case_or_by_number() {
        for text in ["TERM", "SIGTERM", "term", "15"] {
            assert_eq!(parse_signal(text), Ok(Signal::SIGTERM), "{text}");
        }
        for bad in ["FOO", "0", "65", "", "SIG"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn capabilities_by_name_with_or_without_prefix() {
        for text in [
            "net_bind_service",
            "CAP_NET_BIND_SERVICE",
            "cap_net_bind_service",
        ] {
            assert_eq!(parse_capability(text), Ok(Capability::CAP_NET_BIND_SERVICE));
        }
        assert!(parse_capability("net_bind").is_err());
    }

    #[test]
    fn exit_codes_are_bytes() {
        assert_eq!(parse_exit_code("3"), Ok(3));
        for bad in ["256", "-1", "x"] {
            assert!(parse_exit_code(bad).is_err(), "{bad}");
        }
    }
}
