//! The guardian's own messages, in one grammar (DESIGN.md section 9):
//! `supervisor[<name>]: <what happened>`, `... warning: ...`, `... fatal: ...`.
//!
//! They go to stderr; a write that fails (stderr closed, a reader gone) is dropped, since
//! the guardian must never die for want of an audience.

use std::fmt;
use std::io::Write;

/// `-q` hides information; `-qq` also hides runtime warnings. Fatal errors always show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Normal,
    Quiet,
    Silent,
}

impl Verbosity {
    pub fn from_quiet_count(count: u8) -> Verbosity {
        match count {
            0 => Verbosity::Normal,
            1 => Verbosity::Quiet,
            _ => Verbosity::Silent,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Log {
    name: String,
    verbosity: Verbosity,
}

impl Log {
    pub fn new(name: &str, verbosity: Verbosity) -> Log {
        Log {
            name: name.to_owned(),
            verbosity,
        }
    }

    pub fn info(&self, message: impl fmt::Display) {
        if self.verbosity == Verbosity::Normal {
            self.write(format_args!("{message}"));
        }
    }

    pub fn warning(&self, message: impl fmt::Display) {
        if self.verbosity < Verbosity::Silent {
            self.write(format_args!("warning: {message}"));
        }
    }

    pub fn fatal(&self, message: impl fmt::Display) {
        self.write(format_args!("fatal: {message}"));
    }

    fn write(&self, message: fmt::Arguments) {
        let line = format!("supervisor[{}]: {message}\n", self.name);
        // One write(2) per line, so lines from several processes never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
