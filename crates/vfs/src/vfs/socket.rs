//! Socket files: the names AF_UNIX sockets bind to.

use std::any::Any;
use std::sync::Arc;

use abi::Errno;

use super::{LookupCtx, NewOwner, Vfs};
use crate::permission;

impl Vfs {
    /// bind(2) of an AF_UNIX socket to `path`: a new socket file with permission bits `mode`
    /// (umask applied) that stands for `socket`. An existing name is EADDRINUSE, even on a
    /// read-only mount, as on Linux; a new one on a read-only mount is EROFS.
    pub fn bind_socket(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        mode: u32,
        socket: Arc<dyn Any + Send + Sync>,
    ) -> Result<(), Errno> {
        let (dir, name, _) = self.lookup_parent(ctx, path, Errno::EADDRINUSE)?;
        match self.check_absent(&dir, name) {
            Err(Errno::EEXIST) => return Err(Errno::EADDRINUSE),
            other => other?,
        }
        Self::check_writable(&dir)?;
        permission::may_create(&ctx.creds, dir.inode().as_ref())?;
        let owner = NewOwner::new(&ctx.creds, &dir, false, mode)?;
        dir.inode().bind_socket(name, owner.mode, socket)?;
        owner.apply(&self.child(&dir, name)?)?;
        crate::inotify::notify_create(&dir, name, false);
        Ok(())
    }
}
