use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct statfs` as amd64 `statfs`/`fstatfs` write it (120 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statfs_matches_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<Statfs>(), 120);
        assert_eq!(
            std::mem::size_of::<Statfs>(),
            std::mem::size_of::<libc::statfs>()
        );
    }
}
