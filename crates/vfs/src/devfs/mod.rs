//! devfs: /dev, a tmpfs holding the character devices the guest expects and the stdio symlinks.

mod devices;

use std::sync::Arc;

use abi::{Errno, Statfs};

use mm::MemoryFile;

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

/// The character devices the Sentry implements: (name, major, minor).
const DEVICES: [(&[u8], u64, u64); 6] = [
    (b"null", 1, 3),
    (b"zero", 1, 5),
    (b"full", 1, 7),
    (b"random", 1, 8),
    (b"urandom", 1, 9),
    (b"tty", 5, 0),
];

/// The behaviour of the character device `rdev`, if the Sentry implements it (mknod of a
/// device node anywhere gets the same device /dev has).
pub fn device(rdev: u64) -> Option<Arc<dyn DeviceOps>> {
    let (name, ..) = DEVICES
        .iter()
        .find(|&&(_, major, minor)| makedev(major, minor) == rdev)?;
    device_ops(name)
}

fn device_ops(name: &[u8]) -> Option<Arc<dyn DeviceOps>> {
    Some(match name {
        b"null" => Arc::new(Null),
        b"zero" => Arc::new(Zero),
        b"full" => Arc::new(Full),
        b"random" | b"urandom" => Arc::new(Random),
        b"tty" => Arc::new(Tty),
        _ => return None,
    })
}

pub struct DevFs {
    tmpfs: Arc<TmpFs>,
}

impl DevFs {
    /// /dev, its regular files (and /dev/shm's, unless a tmpfs is mounted there) keeping their
    /// data in `memory`.
    pub fn new(memory: Arc<MemoryFile>) -> Result<Arc<DevFs>, Errno> {
        let tmpfs = TmpFs::new(0o755, memory);
        let root = tmpfs.root_dir();
        for (name, major, minor) in DEVICES {
            let ops = device_ops(name).ok_or(Errno::ENODEV)?;
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
