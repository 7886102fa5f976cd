//! Fuzzes `parse_request` of `src/protocol.rs` on arbitrary bytes, fed as a connection
//! feeds it: growing prefixes of one stream. It must never panic; it may answer
//! `Complete` only when a limit is hit or a whole head is there; it may not keep asking
//! for more past the limits; and once a prefix is `Complete`, every longer prefix gets the
//! same answer, so how the bytes were split into reads cannot change the answer.

#![no_main]

use libfuzzer_sys::fuzz_target;

// protocol.rs calls `crate::values::parse_signal`: the same name at this root.
#[allow(dead_code)]
#[path = "../../src/values.rs"]
mod values;

#[allow(dead_code)]
#[path = "../../src/protocol.rs"]
mod protocol;

use protocol::{MAX_BODY, MAX_HEAD, Parsed, RequestError, parse_request};

/// Inputs up to this length are checked at every prefix; longer ones at a sample, kept
/// small so that long inputs (the only ones that reach the head limit) run fast.
const EVERY_PREFIX_UP_TO: usize = 512;
const SAMPLED_PREFIXES: usize = 16;

/// How many bytes of a padded input's headers still fit before `MAX_HEAD`.
const PAD_SLACK: usize = 16;

fuzz_target!(|bytes: &[u8]| {
    check_every_split(bytes);
    // Mutating an 8 KiB input seldom hits its last bytes, so the head limit would hardly
    // be tested: each short input is also tried with a padding header after its first
    // line, which puts what follows that line across the limit.
    if bytes.len() <= EVERY_PREFIX_UP_TO {
        check_every_split(&padded(bytes));
    }
});

fn padded(bytes: &[u8]) -> Vec<u8> {
    let line_end = bytes
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(bytes.len(), |index| index + 1);
    let (line, rest) = bytes.split_at(line_end);
    let (name, end) = (b"X-Pad: ", b"\r\n");
    let fill = (MAX_HEAD - PAD_SLACK).saturating_sub(line.len() + name.len() + end.len());
    let mut out = Vec::with_capacity(MAX_HEAD + rest.len());
    out.extend_from_slice(line);
    out.extend_from_slice(name);
    out.resize(out.len() + fill, b'b');
    out.extend_from_slice(end);
    out.extend_from_slice(rest);
    out
}

/// Parses growing prefixes of `bytes` and checks every answer.
fn check_every_split(bytes: &[u8]) {
    let mut first_complete: Option<(usize, Parsed)> = None;
    for length in prefix_lengths(bytes.len()) {
        let prefix = &bytes[..length];
        let parsed = parse_request(prefix);
        check_alone(prefix, &parsed);
        match &first_complete {
            Some((at, answer)) => assert_eq!(
                &parsed,
                answer,
                "split-dependent: {at} bytes gave {answer:?}, {length} bytes gave {parsed:?}; \
                 input {:?}",
                String::from_utf8_lossy(bytes)
            ),
            None if matches!(parsed, Parsed::Complete(_)) => {
                first_complete = Some((length, parsed));
            }
            None => {}
        }
    }
}

/// What one answer alone must satisfy.
fn check_alone(buffer: &[u8], parsed: &Parsed) {
    match parsed {
        // The server stops reading at MAX_HEAD + MAX_BODY and parses once more: it must get
        // an answer then.
        Parsed::Incomplete => assert!(
            buffer.len() <= MAX_HEAD + MAX_BODY,
            "Incomplete after {} bytes",
            buffer.len()
        ),
        // A limit may be hit at any time.
        Parsed::Complete(Err(RequestError::HeadTooLarge | RequestError::BodyTooLarge)) => {}
        // Anything routed needs the end of a head (a blank line; httparse takes bare LFs).
        Parsed::Complete(Ok(_))
        | Parsed::Complete(Err(
            RequestError::NotFound(_)
            | RequestError::MethodNotAllowed { .. }
            | RequestError::BadSignal(_),
        )) => {
            let head = &buffer[..buffer.len().min(MAX_HEAD)];
            assert!(
                head.windows(2).any(|w| w == b"\n\n") || head.windows(3).any(|w| w == b"\n\r\n"),
                "{parsed:?} without the end of a head: {:?}",
                String::from_utf8_lossy(buffer)
            );
        }
        Parsed::Complete(Err(RequestError::Malformed(_))) => {}
    }
}

/// Every length for short inputs; otherwise a spread, the lengths around `MAX_HEAD` (where
/// the head limit starts to apply) and the whole input.
fn prefix_lengths(len: usize) -> Vec<usize> {
    if len <= EVERY_PREFIX_UP_TO {
        return (0..=len).collect();
    }
    let mut lengths: Vec<usize> = (0..=SAMPLED_PREFIXES)
        .map(|step| len * step / SAMPLED_PREFIXES)
        .chain([MAX_HEAD - 1, MAX_HEAD, MAX_HEAD + 1, len])
        .filter(|&length| length <= len)
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    lengths
}
