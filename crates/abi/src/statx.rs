use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::Stat;

/// `struct statx_timestamp`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

/// `struct statx` (256 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub spare2: [u64; 14],
}

/// STATX_BASIC_STATS: the fields a `struct stat` has.
pub const STATX_BASIC_STATS: u32 = 0x7ff;

/// Linux's dev_t encoding: (major, minor), each 32 bits wide by construction.
#[expect(
    clippy::cast_possible_truncation,
    reason = "major and minor are 32-bit fields of dev_t"
)]
fn dev_split(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn timestamp(t: crate::Timespec) -> StatxTimestamp {
    let tv_nsec = u32::try_from(t.tv_nsec).unwrap_or_default();
    StatxTimestamp {
        tv_sec: t.tv_sec,
        tv_nsec,
        reserved: 0,
    }
}

impl From<&Stat> for Statx {
    /// The statx fields a `struct stat` fills; Linux narrows them the same way (blksize, nlink and
    /// mode fit their statx widths for every file it reports).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "statx's narrower fields, as Linux fills them"
    )]
    fn from(st: &Stat) -> Statx {
        let (rdev_major, rdev_minor) = dev_split(st.st_rdev);
        let (dev_major, dev_minor) = dev_split(st.st_dev);
        Statx {
            stx_mask: STATX_BASIC_STATS,
            stx_blksize: st.st_blksize.cast_unsigned() as u32,
            stx_nlink: st.st_nlink as u32,
            stx_uid: st.st_uid,
            stx_gid: st.st_gid,
            stx_mode: st.st_mode as u16,
            stx_ino: st.st_ino,
            stx_size: st.st_size.cast_unsigned(),
            stx_blocks: st.st_blocks.cast_unsigned(),
            stx_atime: timestamp(st.st_atime),
            stx_ctime: timestamp(st.st_ctime),
            stx_mtime: timestamp(st.st_mtime),
            stx_rdev_major: rdev_major,
            stx_rdev_minor: rdev_minor,
            stx_dev_major: dev_major,
            stx_dev_minor: dev_minor,
            ..Statx::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Statx>(), 256);
    }

    #[test]
    fn device_numbers_split_like_linux() {
        // makedev(136, 3) as glibc encodes it.
        assert_eq!(dev_split((136 << 8) | 3), (136, 3));
        assert_eq!(
            dev_split(((0x1234u64 & !0xfff) << 32) | ((0x1234 & 0xfff) << 8) | 5),
            (0x1234, 5)
        );
    }
}
