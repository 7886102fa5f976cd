//! The integration tests: one test binary (ripgrep's layout), a shared harness, the
//! payloads in one file, and one file per behaviour.
//!
//! The CLI tier (`cli`) runs the built binary for help, usage errors and exit codes. The
//! root tier (every other module) runs real apps in real cgroups, each scenario under
//! several cgroup views (see `harness::View`): `<scenario>::v2`, `::v1`, `::pure_v2`.

/// Defines one `#[test]` per listed view for the scenario `fn <scenario>(view: View)`,
/// inside a module of the same name: `in_views!(scenario: v2, v1, pure_v2);`.
macro_rules! in_views {
    ($scenario:ident: $($view:ident),+ $(,)?) => {
        mod $scenario {
            $(
                #[test]
                fn $view() {
                    super::$scenario(in_views!(@view $view));
                }
            )+
        }
    };
    (@view v2) => { $crate::harness::View::V2 };
    (@view v1) => { $crate::harness::View::V1 };
    (@view pure_v2) => { $crate::harness::View::PureV2 };
}

mod harness;
mod payloads;

mod bad_input;
mod capabilities;
mod cli;
mod control;
mod control_upgrade;
mod credentials;
mod daemonize;
mod daemons;
mod delegation;
mod faults;
mod footprint;
mod fork_mode;
mod forwarding;
mod handover;
mod haproxy;
mod limits;
mod nginx;
mod pid1;
mod placement;
mod recovery;
mod restarts;
mod stop;
mod syslog;
mod unicorn;
mod worker;
