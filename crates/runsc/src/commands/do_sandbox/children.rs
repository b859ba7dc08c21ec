//! Child processes that are killed and reaped when dropped, so that an early return (or the
//! Sentry finishing) leaves nothing running.

use std::io;
use std::os::fd::BorrowedFd;
use std::process::{Child, Command, ExitStatus};

use anyhow::{Context, Result};

use crate::sys;

/// A spawned child of `runsc do`, killed (SIGKILL) and reaped on drop unless waited for.
pub struct KillOnDrop {
    role: &'static str,
    child: Option<Child>,
}

impl KillOnDrop {
    /// Spawns `command` (the child called `role` in messages), handing it each of `inherited`
    /// under the same descriptor number; it also dies if runsc dies.
    pub fn spawn(
        role: &'static str,
        command: &mut Command,
        inherited: &[BorrowedFd<'_>],
    ) -> Result<Self> {
        let child = sys::spawn_inheriting(command, inherited)
            .with_context(|| format!("starting the {role}"))?;
        tracing::debug!(role, pid = child.id(), "started");
        Ok(KillOnDrop {
            role,
            child: Some(child),
        })
    }

    /// The child's host pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for the child to exit by itself.
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(mut child) => child.wait(),
            None => Err(io::Error::other("child already reaped")),
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // kill() fails only when the child was already reaped, which `wait` rules out; an
        // exited but unreaped child takes the signal as a no-op.
        if let Err(err) = child.kill() {
            tracing::warn!(role = self.role, %err, "killing child");
        }
        if let Err(err) = child.wait() {
            tracing::warn!(role = self.role, %err, "reaping child");
        }
    }
}
