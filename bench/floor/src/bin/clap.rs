//! Reference: floor-std plus parsing three flags with clap's derive, as the guardian
//! parses its own command line before it does anything else.

use std::io::{Read, Write};

use clap::Parser;

#[derive(Parser)]
struct Cli {
    /// Fork into the background
    #[arg(short, long)]
    fork: bool,
    /// A name
    #[arg(long)]
    name: Option<String>,
    /// The program to run, then its arguments
    #[arg(last = true)]
    program: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "ready: {:?}, {} words, fork {}",
        cli.name,
        cli.program.len(),
        cli.fork
    )
    .and_then(|()| stdout.flush());
    let _ = std::io::stdin().read(&mut [0; 1]);
}
