//! Where the app's cgroup goes (DESIGN.md section 4), decided once at start-up:
//!
//! - `--cgroup PATH`: there, as given;
//! - in a cgroup systemd delegated to us (`Delegate=yes`, v2): the guardian moves itself
//!   into `<own>/supervisor` and the app goes to `<own>/app`. A delegated cgroup with
//!   processes in it cannot have children with controllers (the no-internal-process rule,
//!   cgroup-v2.rst), and systemd keeps seeing the whole service in its unit's cgroup;
//! - otherwise `/supervisor/<name>` in the hierarchy.

use std::path::{Path, PathBuf};

use crate::cgroup::{AppCgroup, CgroupError, Hierarchy};

/// Under delegation: the subgroup the guardian itself lives in.
const GUARDIAN_SUBGROUP: &str = "supervisor";
/// Under delegation: the subgroup of the app.
const APP_SUBGROUP: &str = "app";
/// Where every guardian's default cgroup lives.
const DEFAULT_PARENT: &str = "/supervisor";

#[derive(Debug, PartialEq, Eq)]
pub struct Placement {
    /// The app's cgroup, a path in the hierarchy.
    pub app: PathBuf,
    /// The guardian's own cgroup when it was delegated to us.
    pub delegated: Option<PathBuf>,
}

impl Placement {
    pub fn choose(
        hierarchy: &Hierarchy,
        explicit: Option<&Path>,
        name: &str,
    ) -> Result<Placement, CgroupError> {
        if let Some(app) = explicit {
            return Ok(Placement {
                app: app.to_owned(),
                delegated: None,
            });
        }
        let Some(mut own) = hierarchy.own_cgroup()? else {
            return Ok(Self::from_own(None, name));
        };
        // A guardian that re-executed itself already lives in `<own>/supervisor`.
        if own.file_name() == Some(GUARDIAN_SUBGROUP.as_ref())
            && let Some(parent) = own.parent().filter(|p| hierarchy.is_delegated(p))
        {
            own = parent.to_owned();
        }
        let delegated = own != Path::new("/") && hierarchy.is_delegated(&own);
        Ok(Self::from_own(delegated.then_some(own), name))
    }

    fn from_own(delegated: Option<PathBuf>, name: &str) -> Placement {
        match delegated {
            Some(own) => Placement {
                app: own.join(APP_SUBGROUP),
                delegated: Some(own),
            },
            None => Placement {
                app: Path::new(DEFAULT_PARENT).join(name),
                delegated: None,
            },
        }
    }

    /// Under delegation, moves the guardian into `<own>/supervisor`; returns that cgroup.
    pub fn enter(&self, hierarchy: &Hierarchy) -> Result<Option<AppCgroup>, CgroupError> {
        let Some(own) = &self.delegated else {
            return Ok(None);
        };
        let subgroup = own.join(GUARDIAN_SUBGROUP);
        let cgroup = hierarchy.create(&subgroup)?;
        hierarchy.move_self_to(&subgroup)?;
        Ok(Some(cgroup))
    }

    /// Undoes [`Placement::enter`]: back into `<own>`, and `<own>/supervisor` removed.
    pub fn leave(
        &self,
        hierarchy: &Hierarchy,
        guardian: Option<AppCgroup>,
    ) -> Result<(), CgroupError> {
        if let (Some(own), Some(guardian)) = (&self.delegated, guardian) {
            hierarchy.move_self_to(own)?;
            guardian.remove()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegated_cgroup_holds_the_guardian_and_the_app_side_by_side() {
        let own = PathBuf::from("/system.slice/web.service");
        let placement = Placement::from_own(Some(own.clone()), "web");
        assert_eq!(placement.app, own.join("app"));
        assert_eq!(placement.delegated, Some(own));
    }

    #[test]
    fn otherwise_the_app_goes_under_supervisor_by_name() {
        let placement = Placement::from_own(None, "web");
        assert_eq!(placement.app, Path::new("/supervisor/web"));
        assert_eq!(placement.delegated, None);
    }
}
