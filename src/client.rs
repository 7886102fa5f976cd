//! The client side of the control socket: `supervisor status|signal|stop|start|restart|
//! upgrade|reload|exit [NAME]`. One request per connection, over a unix socket; the answer
//! printed for a person, or as the guardian's JSON with `--json`.
//!
//! Exit codes: 0 done; 1 refused or failed (the guardian answered with an error); 3 not
//! running (no socket, or nothing answering on it).

use crate::cli::ClientCommand;

/// The guardian answered: the request was carried out.
pub const EXIT_OK: i32 = 0;
/// The guardian refused the request or it failed.
pub const EXIT_REFUSED: i32 = 1;
/// No guardian: no socket, or nothing answers on it.
pub const EXIT_NOT_RUNNING: i32 = 3;

/// Carries out one client command and returns the process's exit code.
pub fn run(command: ClientCommand) -> i32 {
    todo!("{command:?}")
}
