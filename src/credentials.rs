//! Who the app runs as and with which privileges: `-u`, `-g`, `--cap` and
//! `--no-new-privs`, resolved before any fork and applied in the child between fork and
//! exec.
//!
//! Resolution uses NSS (getpwnam, getgrouplist), which may allocate, lock and open
//! files, and the list of capabilities the kernel knows; it happens once, in
//! `Config::from_cli`. The child only makes syscalls.

use caps::{Capability, CapsHashSet};
use nix::errno::Errno;
use nix::unistd::{Gid, Group, Uid, User, getgrouplist};
use rustix::thread::{self, CapabilitySet, CapabilitySets};
use std::ffi::CString;

/// What the app may keep of root's power (`--cap`), prepared for the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Kept in the permitted, effective, inheritable and ambient sets.
    pub kept: CapsHashSet,
    /// Every other capability this kernel supports: dropped from the bounding set.
    pub dropped: Vec<Capability>,
}

impl Capabilities {
    /// `None` when no `--cap` was given: the app gets what exec(2) gives its uid.
    pub fn keep_only(kept: &[Capability]) -> Result<Option<Capabilities>, CredentialsError> {
        if kept.is_empty() {
            return Ok(None);
        }
        let supported = caps::runtime::thread_all_supported();
        if let Some(unsupported) = kept.iter().find(|cap| !supported.contains(cap)) {
            return Err(CredentialsError::UnsupportedCapability(
                unsupported.to_string(),
            ));
        }
        Ok(Some(Capabilities {
            kept: kept.iter().copied().collect(),
            dropped: supported
                .into_iter()
                .filter(|cap| !kept.contains(cap))
                .collect(),
        }))
    }
}

/// Everything the child applies before exec, in the order of [`Privileges::apply`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    pub credentials: Option<Credentials>,
    pub capabilities: Option<Capabilities>,
    pub no_new_privs: bool,
}

/// A failed step of [`Privileges::apply`], for the spawn error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PrivilegeStep {
    BoundingSet = 1,
    KeepCaps,
    Ids,
    CapabilitySets,
    AmbientSet,
    NoNewPrivs,
}

impl PrivilegeStep {
    pub const ALL: [PrivilegeStep; 6] = [
        PrivilegeStep::BoundingSet,
        PrivilegeStep::KeepCaps,
        PrivilegeStep::Ids,
        PrivilegeStep::CapabilitySets,
        PrivilegeStep::AmbientSet,
        PrivilegeStep::NoNewPrivs,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            PrivilegeStep::BoundingSet => "drop capabilities from the bounding set",
            PrivilegeStep::KeepCaps => "keep capabilities across setuid",
            PrivilegeStep::Ids => "change groups, gid and uid",
            PrivilegeStep::CapabilitySets => "set the capability sets",
            PrivilegeStep::AmbientSet => "raise ambient capabilities",
            PrivilegeStep::NoNewPrivs => "set no_new_privs",
        }
    }
}

impl Privileges {
    /// Applies everything; called in the child between fork and exec: syscalls only.
    ///
    /// The order is the one the kernel imposes (capabilities(7)): the bounding set can
    /// only shrink while we still hold CAP_SETPCAP, so first; KEEPCAPS before setuid, or
    /// the permitted set is cleared with the uid; groups → gid → uid (`Credentials`);
    /// then the capability sets, and ambient last, since only capabilities both
    /// permitted and inheritable can be raised there. no_new_privs comes at the end: it
    /// changes nothing for the steps above, only for exec.
    pub fn apply(&self) -> Result<(), (PrivilegeStep, Errno)> {
        let failed =
            |step| move |errno: rustix::io::Errno| (step, Errno::from_raw(errno.raw_os_error()));
        if let Some(capabilities) = &self.capabilities {
            for &cap in &capabilities.dropped {
                thread::remove_capability_from_bounding_set(capability_set(cap))
                    .map_err(failed(PrivilegeStep::BoundingSet))?;
            }
            if self.credentials.as_ref().is_some_and(|c| c.uid.is_some()) {
                thread::set_keep_capabilities(true).map_err(failed(PrivilegeStep::KeepCaps))?;
            }
        }
        if let Some(credentials) = &self.credentials {
            credentials.apply().map_err(failed(PrivilegeStep::Ids))?;
        }
        if let Some(capabilities) = &self.capabilities {
            // After setuid with KEEPCAPS the permitted set still holds `kept`, so each new
            // set is within what the kernel allows (capabilities(7), "Programmatically
            // adjusting capability sets"): one capset(2) for all three.
            let kept = capabilities
                .kept
                .iter()
                .fold(CapabilitySet::empty(), |set, &cap| {
                    set | capability_set(cap)
                });
            let sets = CapabilitySets {
                effective: kept,
                permitted: kept,
                inheritable: kept,
            };
            thread::set_capabilities(None, sets).map_err(failed(PrivilegeStep::CapabilitySets))?;
            for &cap in &capabilities.kept {
                thread::configure_capability_in_ambient_set(capability_set(cap), true)
                    .map_err(failed(PrivilegeStep::AmbientSet))?;
            }
        }
        if self.no_new_privs {
            thread::set_no_new_privs(true).map_err(failed(PrivilegeStep::NoNewPrivs))?;
        }
        Ok(())
    }
}

// The child-side steps are rustix's raw, per-thread syscalls, not the caps crate's or
// glibc's wrappers: the child runs in the guardian's memory until exec (clone.rs), where
// the caps crate would allocate an error message on failure, and glibc's
// setgroups/setgid/setuid would signal every thread of the guardian if it ever had one
// (nptl's setxid broadcast); glibc's posix_spawn makes the same choice (spawni.c).

/// The caps crate's capability as rustix's one-bit set.
fn capability_set(cap: Capability) -> CapabilitySet {
    CapabilitySet::from_bits_retain(1 << cap.index())
}

/// The IDs the app gets. The guardian itself stays root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `None` with `-g` alone: the app keeps uid 0 but not root's groups.
    pub uid: Option<Uid>,
    pub gid: Gid,
    /// Supplementary groups: the user's (from the group database) with `-u`, else just
    /// `gid`. Never root's. As rustix's IDs, the slice its setgroups(2) takes.
    pub groups: Vec<rustix::process::Gid>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CredentialsError {
    UnknownUser(String),
    UnknownGroup(String),
    UnsupportedCapability(String),
    Lookup { what: String, errno: Errno },
}

impl std::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsError::UnknownUser(name) => write!(f, "unknown user '{name}'"),
            CredentialsError::UnknownGroup(name) => write!(f, "unknown group '{name}'"),
            CredentialsError::UnsupportedCapability(name) => {
                write!(f, "this kernel does not support capability {name}")
            }
            CredentialsError::Lookup { what, errno } => {
                write!(f, "failed to look up {what}: {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for CredentialsError {}

impl Credentials {
    /// Resolves `-u` and `-g`. Both `None` → `None`: the app runs as the guardian does.
    /// Names are looked up first; a name of digits that no entry has is taken as a
    /// numeric ID only if the database knows that ID (fail closed: an unknown user must
    /// never become root by mistake).
    pub fn resolve(
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Option<Credentials>, CredentialsError> {
        let user = user.map(find_user).transpose()?;
        let group = group.map(find_group).transpose()?;
        let credentials = match (user, group) {
            (None, None) => return Ok(None),
            (Some(user), group) => {
                let gid = group.map_or(user.gid, |g| g.gid);
                let name = CString::new(user.name.as_bytes())
                    .map_err(|_| CredentialsError::UnknownUser(user.name.clone()))?;
                let groups =
                    getgrouplist(&name, gid).map_err(|errno| CredentialsError::Lookup {
                        what: format!("the groups of '{}'", user.name),
                        errno,
                    })?;
                Credentials {
                    uid: Some(user.uid),
                    gid,
                    groups: groups.iter().map(|group| rustix_gid(*group)).collect(),
                }
            }
            (None, Some(group)) => Credentials {
                uid: None,
                gid: group.gid,
                groups: vec![rustix_gid(group.gid)],
            },
        };
        Ok(Some(credentials))
    }

    /// Drops to these IDs. Called in the child between fork and exec: syscalls only.
    ///
    /// The order is groups → gid → uid: once the uid is not 0, the process may no longer
    /// change its groups (setgroups(2), setgid(2)); greetd and youki do the same.
    pub fn apply(&self) -> Result<(), rustix::io::Errno> {
        thread::set_thread_groups(&self.groups)?;
        let gid = rustix::process::Gid::from_raw_unchecked(self.gid.as_raw());
        thread::set_thread_res_gid(gid, gid, gid)?;
        if let Some(uid) = self.uid {
            let uid = rustix::process::Uid::from_raw_unchecked(uid.as_raw());
            thread::set_thread_res_uid(uid, uid, uid)?;
        }
        Ok(())
    }
}

/// nix's group ID (from the group database) as rustix's.
fn rustix_gid(gid: Gid) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(gid.as_raw())
}

fn find_user(name: &str) -> Result<User, CredentialsError> {
    let lookup = |result: nix::Result<Option<User>>| {
        result.map_err(|errno| CredentialsError::Lookup {
            what: format!("user '{name}'"),
            errno,
        })
    };
    if let Some(user) = lookup(User::from_name(name))? {
        return Ok(user);
    }
    if let Ok(uid) = name.parse::<u32>()
        && let Some(user) = lookup(User::from_uid(Uid::from_raw(uid)))?
    {
        return Ok(user);
    }
    Err(CredentialsError::UnknownUser(name.to_owned()))
}

fn find_group(name: &str) -> Result<Group, CredentialsError> {
    let lookup = |result: nix::Result<Option<Group>>| {
        result.map_err(|errno| CredentialsError::Lookup {
            what: format!("group '{name}'"),
            errno,
        })
    };
    if let Some(group) = lookup(Group::from_name(name))? {
        return Ok(group);
    }
    if let Ok(gid) = name.parse::<u32>()
        && let Some(group) = lookup(Group::from_gid(Gid::from_raw(gid)))?
    {
        return Ok(group);
    }
    Err(CredentialsError::UnknownGroup(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_and_no_group_changes_nothing() {
        assert_eq!(Credentials::resolve(None, None), Ok(None));
    }

    #[test]
    fn a_user_brings_its_primary_group_and_never_roots_groups() {
        let credentials = Credentials::resolve(Some("nobody"), None)
            .expect("nobody resolves")
            .expect("credentials");
        assert_eq!(credentials.uid, Some(Uid::from_raw(65534)));
        assert_eq!(credentials.gid, Gid::from_raw(65534));
        assert!(!credentials.groups.contains(&rustix::process::Gid::ROOT));
    }

    #[test]
    fn unknown_names_fail_closed() {
        assert_eq!(
            Credentials::resolve(Some("no-such-user-x9"), None),
            Err(CredentialsError::UnknownUser("no-such-user-x9".into()))
        );
        assert_eq!(
            Credentials::resolve(None, Some("no-such-group-x9")),
            Err(CredentialsError::UnknownGroup("no-such-group-x9".into()))
        );
        assert_eq!(
            Credentials::resolve(Some("4000000000"), None),
            Err(CredentialsError::UnknownUser("4000000000".into()))
        );
    }

    #[test]
    fn a_group_alone_keeps_the_uid_but_replaces_the_groups() {
        let credentials = Credentials::resolve(None, Some("nogroup"))
            .expect("nogroup resolves")
            .expect("credentials");
        assert_eq!(credentials.uid, None);
        assert_eq!(credentials.groups, vec![rustix_gid(credentials.gid)]);
    }
}
