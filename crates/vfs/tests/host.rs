//! Files over host fds (the sandbox's stdio).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use abi::Errno;
use vfs::OpenFile;

/// An ioctl number as the ioctl syscall takes it (`unsigned int`).
fn cmd(request: u64) -> u32 {
    u32::try_from(request).expect("ioctl numbers fit in 32 bits")
}

#[test]
fn a_host_socket_reads_writes_and_is_not_seekable() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let file = OpenFile::host(OwnedFd::from(ours)).unwrap();
    let mut peer = theirs;
    assert_eq!(file.write(b"to peer"), Ok(7));
    let mut buf = [0u8; 7];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"to peer");
    peer.write_all(b"back").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(file.read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"back");
    assert_eq!(file.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
    assert_eq!(file.pread(&mut buf, 0), Err(Errno::ESPIPE));
    assert_eq!(file.stat().unwrap().st_mode & libc::S_IFMT, libc::S_IFSOCK);
    assert_eq!(file.status_flags() & libc::O_ACCMODE, libc::O_RDWR);
    assert!(file.path().is_none());
}

#[test]
fn host_ioctls_are_limited_to_the_tty_allowlist() {
    let (ours, _theirs) = UnixStream::pair().unwrap();
    let file = OpenFile::host(OwnedFd::from(ours)).unwrap();
    let mut termios = [0u8; 36];
    // Allowed, but a socket is not a tty.
    assert_eq!(
        file.ioctl(cmd(libc::TCGETS), &mut termios),
        Err(Errno::ENOTTY)
    );
    let mut winsize = [0u8; 8];
    assert_eq!(
        file.ioctl(cmd(libc::TIOCGWINSZ), &mut winsize),
        Err(Errno::ENOTTY)
    );
    // Not allowed: never reaches the host.
    assert_eq!(
        file.ioctl(cmd(libc::FIONREAD), &mut [0u8; 4]),
        Err(Errno::ENOTTY)
    );
    // A buffer shorter than the structure is refused before the host call.
    assert_eq!(
        file.ioctl(cmd(libc::TCGETS), &mut [0u8; 4]),
        Err(Errno::EFAULT)
    );
    assert_eq!(vfs::ioctl_arg_len(cmd(libc::TIOCGWINSZ)), Some(8));
}

#[test]
fn a_host_regular_file_seeks_on_the_host_offset() {
    let mut tmp = tempfile::tempfile().unwrap();
    tmp.write_all(b"0123456789").unwrap();
    let file = OpenFile::host(OwnedFd::from(tmp)).unwrap();
    assert_eq!(file.seek(2, libc::SEEK_SET), Ok(2));
    let mut buf = [0u8; 3];
    assert_eq!(file.read(&mut buf), Ok(3));
    assert_eq!(&buf, b"234");
    assert_eq!(file.pread(&mut buf, 7), Ok(3));
    assert_eq!(&buf, b"789");
    assert_eq!(file.stat().unwrap().st_size, 10);
}

#[test]
fn a_host_tty_answers_tcgets_and_tiocgwinsz() {
    let pty = match nix::pty::openpty(None, None) {
        Ok(pty) => pty,
        Err(e) => {
            eprintln!("skipped: no pseudo-terminal here: {e}");
            return;
        }
    };
    let file = OpenFile::host(pty.slave).unwrap();
    let mut termios = [0u8; 36];
    assert_eq!(file.ioctl(cmd(libc::TCGETS), &mut termios), Ok(0));
    let c_lflag = u32::from_ne_bytes(termios[12..16].try_into().unwrap());
    assert_ne!(c_lflag & libc::ICANON, 0, "a fresh pty is canonical");
    let mut winsize = [0u8; 8];
    winsize[0..2].copy_from_slice(&40u16.to_ne_bytes());
    winsize[2..4].copy_from_slice(&100u16.to_ne_bytes());
    assert_eq!(file.ioctl(cmd(libc::TIOCSWINSZ), &mut winsize), Ok(0));
    let mut read_back = [0u8; 8];
    assert_eq!(file.ioctl(cmd(libc::TIOCGWINSZ), &mut read_back), Ok(0));
    assert_eq!(read_back[..4], winsize[..4]);
}
