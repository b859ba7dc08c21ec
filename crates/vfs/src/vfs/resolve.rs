//! Path resolution, one component at a time, with symlinks followed by the Sentry.

use std::sync::Arc;

use abi::Errno;

use super::{LookupCtx, Vfs, NAME_MAX, PATH_MAX, SYMLOOP_MAX};
use crate::fs::FileType;
use crate::mount::{Mount, VfsPath};
use crate::permission::{self, Credentials};

/// openat2's RESOLVE_* restrictions on one resolution (all off for every other syscall).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolve {
    /// RESOLVE_NO_XDEV: every component stays in the starting mount (EXDEV).
    pub no_xdev: bool,
    /// RESOLVE_NO_MAGICLINKS: no /proc/[pid]/fd link is followed (ELOOP).
    pub no_magiclinks: bool,
    /// RESOLVE_NO_SYMLINKS: no symlink at all is followed (ELOOP).
    pub no_symlinks: bool,
    /// RESOLVE_BENEATH: the start directory is a wall: absolute paths and symlinks, ".." above
    /// it and magic links are EXDEV.
    pub beneath: bool,
    /// RESOLVE_IN_ROOT: the start directory is the root: absolute paths and symlinks start
    /// there and ".." stops there; magic links are EXDEV.
    pub in_root: bool,
}

impl Resolve {
    /// Whether the start directory scopes the resolution (Linux's LOOKUP_IS_SCOPED).
    pub fn scoped(self) -> bool {
        self.beneath || self.in_root
    }
}

/// The last component of a path, which the operation decides how to treat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Last<'a> {
    /// The path named its start directory itself ("/").
    Root,
    Dot,
    DotDot,
    Name(&'a [u8]),
}

/// A path resolved up to its last component.
pub(crate) struct Parent<'a> {
    pub dir: VfsPath,
    pub last: Last<'a>,
    /// The path ended in '/': the result must be a directory.
    pub trailing_slash: bool,
}

/// Checks the length rules every path argument obeys.
pub(crate) fn check_path(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// One resolution: the sandbox root, who walks (every directory passed needs their search
/// permission) and the symlinks followed so far (shared by all the symlink targets resolved on
/// the way).
pub(crate) struct Walker<'v> {
    vfs: &'v Vfs,
    root: VfsPath,
    creds: &'v Credentials,
    symlinks: u32,
    resolve: Resolve,
    /// The mount RESOLVE_NO_XDEV keeps the resolution in: where the path argument starts
    /// (set by the first `parent`; symlink targets resolve later).
    home: Option<Arc<Mount>>,
}

impl<'v> Walker<'v> {
    /// A resolution by `ctx`'s caller under its root with `resolve`'s restrictions; a scoped
    /// one's root is `ctx.start`.
    pub fn new(vfs: &'v Vfs, ctx: &'v LookupCtx, resolve: Resolve) -> Walker<'v> {
        Walker {
            vfs,
            root: if resolve.scoped() {
                ctx.start.clone()
            } else {
                ctx.root.clone()
            },
            creds: &ctx.creds,
            symlinks: 0,
            resolve,
            home: None,
        }
    }

    /// EXDEV if RESOLVE_NO_XDEV and `path` left the starting mount.
    fn check_xdev(&self, path: &VfsPath) -> Result<(), Errno> {
        match &self.home {
            Some(home) if !Arc::ptr_eq(home, path.mount()) => Err(Errno::EXDEV),
            _ => Ok(()),
        }
    }

    /// Resolves every component of `path` but the last, starting at `start` (or the root for an
    /// absolute path).
    pub fn parent<'p>(&mut self, start: &VfsPath, path: &'p [u8]) -> Result<Parent<'p>, Errno> {
        let mut dir = if path.first() == Some(&b'/') {
            if self.resolve.beneath {
                return Err(Errno::EXDEV);
            }
            self.root.clone()
        } else {
            start.clone()
        };
        if self.resolve.no_xdev && self.home.is_none() {
            self.home = Some(dir.mount().clone());
        }
        self.check_xdev(&dir)?;
        let trailing_slash = path.last() == Some(&b'/');
        let mut components = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        let mut last = Last::Root;
        while let Some(component) = components.next() {
            // As Linux's link_path_walk: every component, the last one too, is looked up in a
            // directory the caller may search.
            if !dir.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            permission::may_lookup(self.creds, dir.inode().as_ref())?;
            if component.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            if components.peek().is_none() {
                last = match component {
                    b"." => Last::Dot,
                    b".." => Last::DotDot,
                    name => Last::Name(name),
                };
                break;
            }
            dir = self.step(&dir, component, true)?;
        }
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(Parent {
            dir,
            last,
            trailing_slash,
        })
    }

    /// Resolves the whole path; a final symlink is followed if `follow` (or if the path ends in
    /// '/').
    pub fn resolve(
        &mut self,
        start: &VfsPath,
        path: &[u8],
        follow: bool,
    ) -> Result<VfsPath, Errno> {
        let parent = self.parent(start, path)?;
        self.finish(parent, follow)
    }

    /// Resolves the last component of an already resolved parent.
    pub fn finish(&mut self, parent: Parent<'_>, follow: bool) -> Result<VfsPath, Errno> {
        let follow = follow || parent.trailing_slash;
        let found = match parent.last {
            Last::Root | Last::Dot => parent.dir,
            Last::DotDot => self.dotdot(&parent.dir)?,
            Last::Name(name) => self.step(&parent.dir, name, follow)?,
        };
        if parent.trailing_slash && !found.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(found)
    }

    /// One component from the directory `dir`.
    pub fn step(&mut self, dir: &VfsPath, name: &[u8], follow: bool) -> Result<VfsPath, Errno> {
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        match name {
            b"." => return Ok(dir.clone()),
            b".." => return self.dotdot(dir),
            _ => {}
        }
        let child = self.vfs.child(dir, name)?;
        self.check_xdev(&child)?;
        if !follow || child.file_type() != FileType::Symlink {
            return Ok(child);
        }
        if self.resolve.no_symlinks {
            return Err(Errno::ELOOP);
        }
        self.symlinks += 1;
        if self.symlinks > SYMLOOP_MAX {
            return Err(Errno::ELOOP);
        }
        if let Some(file) = child.inode().magic_link() {
            if self.resolve.no_magiclinks {
                return Err(Errno::ELOOP);
            }
            if self.resolve.scoped() {
                return Err(Errno::EXDEV);
            }
            let file = file?;
            if let Some(path) = file.path() {
                self.check_xdev(path)?;
            }
            return Ok(match file.path() {
                Some(path) => path.clone(),
                None => crate::file::file_node(&child, file),
            });
        }
        let target = child.inode().readlink()?;
        check_path(&target)?;
        // An absolute target restarts at the sandbox root, never the host's.
        self.resolve(dir, &target, true)
    }

    /// "..": stays at the sandbox root (EXDEV under RESOLVE_BENEATH); from a mount root, goes
    /// to the mountpoint's parent.
    pub fn dotdot(&self, dir: &VfsPath) -> Result<VfsPath, Errno> {
        let mut cur = dir.clone();
        loop {
            if cur.same_as(&self.root) {
                if self.resolve.beneath {
                    return Err(Errno::EXDEV);
                }
                return Ok(cur);
            }
            if !cur.is_mount_root() {
                break;
            }
            match cur.mount().mountpoint() {
                Some(mountpoint) => cur = mountpoint.clone(),
                None => return Ok(cur),
            }
        }
        self.check_xdev(&cur)?;
        Ok(match cur.dentry().parent() {
            Some(parent) => VfsPath::new(cur.mount().clone(), parent),
            None => cur,
        })
    }
}
