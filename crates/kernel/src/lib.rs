//! The Sentry's kernel: tasks, the syscall table, the ELF loader and the run loop.
//!
//! Every guest task runs on its own Sentry OS thread, which owns the platform context of that
//! task and loops `switch -> trap -> handle -> switch`. Syscalls are served entirely here, from
//! `mm` (memory) and `vfs` (files); nothing the guest asks for is passed to the host.
#![forbid(unsafe_code)]

mod boot;
mod clock;
mod compatibility;
mod deadline;
mod epoll;
mod eventfd;
mod fd_table;
mod futex;
mod ipc;
mod kernel;
mod lease;
mod loader;
mod oom;
mod pid;
mod procfs;
mod signalfd;
#[cfg(test)]
mod syscall_fuzz;
mod syscalls;
mod task;
mod terminal;
mod timers;
mod tty;
mod vdso;

pub use boot::{run, Config, Limits, ResourceLimit, RootKind, Volume, FORWARDED_SIGNALS};
pub use compatibility::compatibility_markdown;
pub use kernel::Kernel;
pub use task::ExitStatus;

/// Errors that stop the Sentry itself (never a guest's error: those are errnos).
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("platform: {0}")]
    Platform(#[from] platform::PlatformError),
    #[error("memory: {0}")]
    Memory(#[from] mm::MmError),
    #[error("root filesystem: {0}")]
    Gofer(#[from] p9::Error),
    #[error("setting up the sandbox's mounts: {0}")]
    Mount(abi::Errno),
    #[error("volume at {path}: {reason}")]
    Volume { path: String, reason: String },
    #[error("the sandbox's stdio: {0}")]
    Stdio(abi::Errno),
    #[error("working directory {path}: {errno}")]
    Cwd { path: String, errno: abi::Errno },
    #[error("starting {path}: {errno}")]
    Exec { path: String, errno: abi::Errno },
    #[error("spawning the task thread: {0}")]
    Thread(std::io::Error),
    #[error("spawning the clock thread: {0}")]
    ClockThread(std::io::Error),
    #[error("task thread panicked")]
    TaskPanicked,
    #[error("the task limit leaves no room for init")]
    NoRoomForInit,
}
