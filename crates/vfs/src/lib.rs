//! The Sentry's virtual filesystem: mounts, dentries, path resolution and open file descriptions,
//! with the filesystems behind them (tmpfs, devfs, the Gofer-backed fs, the overlay root) and
//! files over host fds.
//!
//! Paths are resolved here, one component at a time, never by the host: symlinks are read and
//! followed by the Sentry, and absolute targets restart at the sandbox root.
#![deny(unsafe_code)]

mod dentry;
pub mod devfs;
mod file;
mod fs;
pub mod gofer;
pub mod inotify;
pub mod lock;
mod mount;
pub mod overlay;
pub mod permission;
pub mod pipe;
#[allow(unsafe_code)]
mod sys;
pub mod tmpfs;
mod vfs;

pub use dentry::{Dentry, DENTRY_CACHE_CAPACITY};
pub use file::{ioctl_arg_len, queued_bytes_ioctl, FileOps, OpenFile};
pub use fs::{
    generic_seek, new_device_id, DirEntry, FileSystem, FileType, Inode, NewFile, NewOwner, SetAttr,
};
pub use mount::{Mount, VfsPath};
pub use permission::Credentials;
pub use vfs::{LookupCtx, Resolve, Vfs, NAME_MAX, PATH_MAX, SYMLOOP_MAX};
