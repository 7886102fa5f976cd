//! What a running guardian holds of the host beyond its app.

use std::fs;

use crate::harness::{Guardian, View};
use crate::payloads;

/// build/unwinder.rs links gcc's unwinder into the binary, so no start pays for loading
/// libgcc_s.so.1 (and its CPUID probe); it must not come back through a dependency.
/// Where the build found no libgcc_eh.a (it warns), the binary loads libgcc_s as before.
#[test]
#[cfg_attr(
    not(static_unwinder),
    ignore = "built without libgcc_eh.a (see the build warning): libgcc_s is expected"
)]
fn guardian_maps_libc_but_no_libgcc_s() {
    let b = Guardian::build(View::V2, "footprint");
    let app = payloads::record_pid_then_sleep(&b.dir());
    let g = b.app(app).start();
    g.wait_for_pids("pids", 1);
    let maps = fs::read_to_string(format!("/proc/{}/maps", g.pid()))
        .expect("failed to read the guardian's maps");
    // Control: the listing does show the shared libraries the guardian loaded.
    g.check(maps.contains("libc.so"), "the guardian's maps to list libc");
    g.check(
        !maps.contains("libgcc_s"),
        &format!("no libgcc_s in the guardian's maps:\n{maps}"),
    );
}
