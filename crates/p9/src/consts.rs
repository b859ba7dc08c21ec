//! Protocol constants: qid types and the Tgetattr/Tsetattr mask bits.

/// The protocol version this crate speaks.
pub const VERSION: &[u8] = b"9P2000.L";

pub const QID_TYPE_DIR: u8 = 0x80;
pub const QID_TYPE_APPEND: u8 = 0x40;
pub const QID_TYPE_EXCL: u8 = 0x20;
pub const QID_TYPE_MOUNT: u8 = 0x10;
pub const QID_TYPE_AUTH: u8 = 0x08;
pub const QID_TYPE_TMP: u8 = 0x04;
pub const QID_TYPE_SYMLINK: u8 = 0x02;
pub const QID_TYPE_LINK: u8 = 0x01;
pub const QID_TYPE_FILE: u8 = 0x00;

pub const GETATTR_MODE: u64 = 0x0000_0001;
pub const GETATTR_NLINK: u64 = 0x0000_0002;
pub const GETATTR_UID: u64 = 0x0000_0004;
pub const GETATTR_GID: u64 = 0x0000_0008;
pub const GETATTR_RDEV: u64 = 0x0000_0010;
pub const GETATTR_ATIME: u64 = 0x0000_0020;
pub const GETATTR_MTIME: u64 = 0x0000_0040;
pub const GETATTR_CTIME: u64 = 0x0000_0080;
pub const GETATTR_INO: u64 = 0x0000_0100;
pub const GETATTR_SIZE: u64 = 0x0000_0200;
pub const GETATTR_BLOCKS: u64 = 0x0000_0400;
pub const GETATTR_BTIME: u64 = 0x0000_0800;
pub const GETATTR_GEN: u64 = 0x0000_1000;
pub const GETATTR_DATA_VERSION: u64 = 0x0000_2000;
/// Everything `stat(2)` reports.
pub const GETATTR_BASIC: u64 = 0x0000_07ff;
pub const GETATTR_ALL: u64 = 0x0000_3fff;

pub const SETATTR_MODE: u32 = 0x0000_0001;
pub const SETATTR_UID: u32 = 0x0000_0002;
pub const SETATTR_GID: u32 = 0x0000_0004;
pub const SETATTR_SIZE: u32 = 0x0000_0008;
pub const SETATTR_ATIME: u32 = 0x0000_0010;
pub const SETATTR_MTIME: u32 = 0x0000_0020;
pub const SETATTR_CTIME: u32 = 0x0000_0040;
/// With `SETATTR_ATIME`: use `atime_sec`/`atime_nsec` rather than the current time.
pub const SETATTR_ATIME_SET: u32 = 0x0000_0080;
/// With `SETATTR_MTIME`: use `mtime_sec`/`mtime_nsec` rather than the current time.
pub const SETATTR_MTIME_SET: u32 = 0x0000_0100;
