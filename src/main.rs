//! `supervisor`: keeps one application alive in its own cgroup.

#![allow(dead_code)] // skeleton: removed once the event loop uses every module

mod backoff;
mod cgroup;
mod main_pid;
mod policy;
mod state;

fn main() {}
