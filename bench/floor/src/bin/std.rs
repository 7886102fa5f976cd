//! Reference: a program on Rust's std that says it is ready, then waits for its stdin to
//! close (the benchmark holds it open). No guardian code, no crates.

use std::io::{Read, Write};

fn main() {
    let mut stdout = std::io::stdout();
    // Nothing can be done about a broken pipe here: the benchmark would time out waiting.
    let _ = writeln!(stdout, "ready").and_then(|()| stdout.flush());
    let _ = std::io::stdin().read(&mut [0; 1]);
}
