//! The guardian's own unwinder link (libgcc_eh.a instead of libgcc_s), so that these
//! reference programs map what the guardian maps.

#[path = "../../build/unwinder.rs"]
mod unwinder;

fn main() {
    println!("cargo::rerun-if-changed=../../build/unwinder.rs");
    unwinder::link_statically();
}
