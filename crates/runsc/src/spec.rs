//! What `runsc do` tells the Sentry to run: the command, its environment, its working directory
//! and the caller's resource limits.
//!
//! It travels in a sealed memfd whose descriptor `runsc boot` inherits, never on `runsc boot`'s
//! command line: any host user reads command lines (`ps`, /proc/PID/cmdline), and environments
//! hold secrets.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use kernel::{Limits, ResourceLimit, RootKind, Volume};
use nix::sys::resource::{getrlimit, Resource};
use serde::{Deserialize, Serialize};

/// The largest spec `runsc boot` accepts: far above any real argv and environment (Linux caps
/// both together at a quarter of the stack limit), so a corrupt memfd can't make it allocate
/// without bound.
const MAX_SPEC_BYTES: u64 = 256 << 20;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The command and its arguments; a name without '/' is looked up in the guest's PATH.
    pub argv: Vec<Vec<u8>>,
    /// The whole environment, as `K=V` entries.
    pub env: Vec<Vec<u8>>,
    /// The working directory inside the sandbox.
    pub cwd: Vec<u8>,
    /// Whether the sandbox must fail when `cwd` is not a directory in it (the user asked for it
    /// with `--cwd`) rather than start in `/` (it is only the caller's directory, which the
    /// sandbox need not have).
    pub cwd_required: bool,
    /// The caller's resource limits, which the guest inherits as a process inherits its parent's.
    pub rlimits: Vec<ResourceLimit>,
    /// What the sandbox as a whole may use (`--tmpfs-size`, `--memory`, `--pids`, resolved).
    pub limits: Limits,
    /// The volumes to mount (`--volume`), which the Gofer serves under their anames.
    pub volumes: Vec<Volume>,
    /// Whether the root is an overlay or read-only (`--read-only`).
    pub root: RootKind,
}

/// Every resource Linux limits (RLIMIT_CPU..=RLIMIT_RTTIME).
const RESOURCES: [Resource; 16] = [
    Resource::RLIMIT_CPU,
    Resource::RLIMIT_FSIZE,
    Resource::RLIMIT_DATA,
    Resource::RLIMIT_STACK,
    Resource::RLIMIT_CORE,
    Resource::RLIMIT_RSS,
    Resource::RLIMIT_NPROC,
    Resource::RLIMIT_NOFILE,
    Resource::RLIMIT_MEMLOCK,
    Resource::RLIMIT_AS,
    Resource::RLIMIT_LOCKS,
    Resource::RLIMIT_SIGPENDING,
    Resource::RLIMIT_MSGQUEUE,
    Resource::RLIMIT_NICE,
    Resource::RLIMIT_RTPRIO,
    Resource::RLIMIT_RTTIME,
];

/// This process's resource limits, soft and hard.
pub fn own_rlimits() -> Result<Vec<ResourceLimit>> {
    RESOURCES
        .iter()
        .map(|&resource| {
            let (soft, hard) =
                getrlimit(resource).with_context(|| format!("reading limit {resource:?}"))?;
            Ok(ResourceLimit {
                resource: resource as u32,
                soft,
                hard,
            })
        })
        .collect()
}

impl SandboxSpec {
    /// The spec in a sealed memfd (nothing can change it once written), read from the start.
    pub fn to_memfd(&self) -> Result<OwnedFd> {
        let bytes = postcard::to_stdvec(self).context("encoding the sandbox spec")?;
        let memfd = memfd::MemfdOptions::default()
            .allow_sealing(true)
            .create("runsc-spec")
            .context("creating the spec memfd")?;
        memfd
            .as_file()
            .write_all(&bytes)
            .context("writing the spec memfd")?;
        memfd
            .add_seals(&[
                memfd::FileSeal::SealShrink,
                memfd::FileSeal::SealGrow,
                memfd::FileSeal::SealWrite,
                memfd::FileSeal::SealSeal,
            ])
            .context("sealing the spec memfd")?;
        Ok(OwnedFd::from(memfd.into_file()))
    }

    /// Reads the spec `to_memfd` wrote (the descriptor shares its file offset with the writer's,
    /// so it is read from the start).
    pub fn from_fd(fd: OwnedFd) -> Result<SandboxSpec> {
        let mut file = File::from(fd);
        file.seek(SeekFrom::Start(0))
            .context("rewinding the spec memfd")?;
        let mut bytes = Vec::new();
        file.take(MAX_SPEC_BYTES)
            .read_to_end(&mut bytes)
            .context("reading the spec memfd")?;
        postcard::from_bytes(&bytes).context("decoding the sandbox spec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_a_memfd() {
        let spec = SandboxSpec {
            argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"\xffexit 3".to_vec()],
            env: vec![b"SECRET=hunter2".to_vec(), b"EMPTY=".to_vec()],
            cwd: b"/work".to_vec(),
            cwd_required: true,
            rlimits: own_rlimits().expect("getrlimit"),
            limits: Limits {
                tmpfs_size: 1 << 30,
                memory: 2 << 30,
                max_tasks: 100,
            },
            volumes: vec![Volume {
                aname: b"volume/0".to_vec(),
                guest: b"/data".to_vec(),
                read_only: true,
            }],
            root: RootKind::ReadOnly,
        };
        let fd = spec.to_memfd().expect("memfd");
        assert_eq!(SandboxSpec::from_fd(fd).expect("read back"), spec);
    }

    #[test]
    fn own_rlimits_has_nofile_as_getrlimit_reports_it() {
        let limits = own_rlimits().expect("getrlimit");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert!(limits.contains(&ResourceLimit {
            resource: libc::RLIMIT_NOFILE,
            soft,
            hard
        }));
    }
}
