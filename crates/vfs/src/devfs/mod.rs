//! devfs: /dev, a tmpfs holding the character devices the guest expects and the stdio symlinks.

mod devices;

use std::sync::Arc;

use abi::{Errno, Statfs};

use crate::fs::{FileSystem, Inode};
use crate::tmpfs::{DeviceOps, TmpFs};
use devices::{Full, Null, Random, Tty, Zero};

/// `makedev(major, minor)`, as glibc encodes it.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0x0000_0fff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0x0000_00ff)
}

pub struct DevFs {
    tmpfs: Arc<TmpFs>,
}

impl DevFs {
    pub fn new() -> Result<Arc<DevFs>, Errno> {
        type DeviceNode = (&'static [u8], u64, u64, Arc<dyn DeviceOps>);
        let tmpfs = TmpFs::new(0o755);
        let root = tmpfs.root_dir();
        // (name, major, minor, behaviour)
        let devices: [DeviceNode; 6] = [
            (b"null", 1, 3, Arc::new(Null)),
            (b"zero", 1, 5, Arc::new(Zero)),
            (b"full", 1, 7, Arc::new(Full)),
            (b"random", 1, 8, Arc::new(Random)),
            (b"urandom", 1, 9, Arc::new(Random)),
            (b"tty", 5, 0, Arc::new(Tty)),
        ];
        for (name, major, minor, ops) in devices {
            root.add_device(name, 0o666, makedev(major, minor), ops)?;
        }
        for (name, target) in [
            (&b"stdin"[..], &b"/proc/self/fd/0"[..]),
            (b"stdout", b"/proc/self/fd/1"),
            (b"stderr", b"/proc/self/fd/2"),
            (b"fd", b"/proc/self/fd"),
        ] {
            root.symlink(name, target)?;
        }
        root.mkdir(b"shm", 0o1777)?;
        Ok(Arc::new(DevFs { tmpfs }))
    }
}

impl FileSystem for DevFs {
    fn name(&self) -> &'static str {
        "devtmpfs"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.tmpfs.root()
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        self.tmpfs.statfs()
    }
}
