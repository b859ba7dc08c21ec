//! Linux errno values as 9P carries them (`u32`).

use nix::errno::Errno;

pub fn from_nix(errno: Errno) -> u32 {
    u32::try_from(errno as i32).unwrap_or(EIO)
}

pub fn from_io(error: &std::io::Error) -> u32 {
    error
        .raw_os_error()
        .and_then(|e| u32::try_from(e).ok())
        .unwrap_or(EIO)
}

macro_rules! errnos {
    ($($name:ident),*) => {$(
        pub const $name: u32 = u32::from_ne_bytes(libc::$name.to_ne_bytes());
    )*};
}

errnos!(
    E2BIG, EACCES, EBADF, EBUSY, EINVAL, EIO, EISDIR, ELOOP, ENODATA, ENOENT, ENOTDIR, EOPNOTSUPP,
    EPERM, EROFS, ESTALE, EXDEV
);
