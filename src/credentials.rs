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
        if let Some(capabilities) = &self.capabilities {
            for &cap in &capabilities.dropped {
                prctl(libc::PR_CAPBSET_DROP, cap.index().into(), 0)
                    .map_err(|errno| (PrivilegeStep::BoundingSet, errno))?;
            }
            if self.credentials.as_ref().is_some_and(|c| c.uid.is_some()) {
                prctl(libc::PR_SET_KEEPCAPS, 1, 0)
                    .map_err(|errno| (PrivilegeStep::KeepCaps, errno))?;
            }
        }
        if let Some(credentials) = &self.credentials {
            credentials
                .apply()
                .map_err(|errno| (PrivilegeStep::Ids, errno))?;
        }
        if let Some(capabilities) = &self.capabilities {
            capabilities
                .set_all_three()
                .map_err(|errno| (PrivilegeStep::CapabilitySets, errno))?;
            for &cap in &capabilities.kept {
                let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
                prctl(libc::PR_CAP_AMBIENT, raise, cap.index().into())
                    .map_err(|errno| (PrivilegeStep::AmbientSet, errno))?;
            }
        }
        if self.no_new_privs {
            prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
                .map_err(|errno| (PrivilegeStep::NoNewPrivs, errno))?;
        }
        Ok(())
    }
}

// The child-side steps are raw syscalls, not the caps crate's or glibc's wrappers: the
// child runs in the guardian's memory until exec (clone.rs), where the caps crate would
// allocate an error message on failure, and glibc's setgroups/setgid/setuid would signal
// every thread of the guardian if it ever had one (nptl's setxid broadcast); glibc's
// posix_spawn makes the same choice (spawni.c).

/// prctl(2) with two arguments (the rest zero).
fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: the options used here take integer arguments only.
    let ret = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    Errno::result(ret).map(drop)
}

/// A raw syscall with up to three integer arguments.
fn syscall3(
    number: libc::c_long,
    a: libc::c_ulong,
    b: libc::c_ulong,
    c: libc::c_ulong,
) -> Result<(), Errno> {
    // SAFETY: the calls made through this take integers, or a pointer the caller keeps
    // valid for the call.
    let ret = unsafe { libc::syscall(number, a, b, c) };
    Errno::result(ret).map(drop)
}

impl Capabilities {
    /// capset(2) of the effective, permitted and inheritable sets to `kept`, in one call:
    /// after setuid with KEEPCAPS the permitted set still holds `kept`, so each new set is
    /// within what the kernel allows (capabilities(7), "Programmatically adjusting
    /// capability sets").
    fn set_all_three(&self) -> Result<(), Errno> {
        // linux/capability.h: _LINUX_CAPABILITY_VERSION_3, two 32-bit halves.
        const VERSION_3: u32 = 0x2008_0522;
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mask = self
            .kept
            .iter()
            .fold(0u64, |mask, cap| mask | (1u64 << cap.index()));
        let half = |bits: u64| Data {
            effective: bits as u32,
            permitted: bits as u32,
            inheritable: bits as u32,
        };
        let header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let data = [half(mask), half(mask >> 32)];
        syscall3(
            libc::SYS_capset,
            &raw const header as libc::c_ulong,
            data.as_ptr() as libc::c_ulong,
            0,
        )
    }
}

/// The IDs the app gets. The guardian itself stays root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `None` with `-g` alone: the app keeps uid 0 but not root's groups.
    pub uid: Option<Uid>,
    pub gid: Gid,
    /// Supplementary groups: the user's (from the group database) with `-u`, else just
    /// `gid`. Never root's. As `gid_t`, the array setgroups(2) takes.
    pub groups: Vec<libc::gid_t>,
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
                    groups: groups.iter().map(|group| group.as_raw()).collect(),
                }
            }
            (None, Some(group)) => Credentials {
                uid: None,
                gid: group.gid,
                groups: vec![group.gid.as_raw()],
            },
        };
        Ok(Some(credentials))
    }

    /// Drops to these IDs. Called in the child between fork and exec: syscalls only.
    ///
    /// The order is groups → gid → uid: once the uid is not 0, the process may no longer
    /// change its groups (setgroups(2), setgid(2)); greetd and youki do the same.
    pub fn apply(&self) -> Result<(), Errno> {
        syscall3(
            libc::SYS_setgroups,
            self.groups.len() as libc::c_ulong,
            self.groups.as_ptr() as libc::c_ulong,
            0,
        )?;
        let gid = self.gid.as_raw().into();
        syscall3(libc::SYS_setresgid, gid, gid, gid)?;
        if let Some(uid) = self.uid {
            let uid = uid.as_raw().into();
            syscall3(libc::SYS_setresuid, uid, uid, uid)?;
        }
        Ok(())
    }
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
        assert!(!credentials.groups.contains(&0));
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
        assert_eq!(credentials.groups, vec![credentials.gid.as_raw()]);
    }
}
