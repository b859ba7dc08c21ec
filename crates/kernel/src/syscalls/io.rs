//! Positioned vectored I/O (preadv, pwritev and their v2 forms) and in-kernel copies between
//! files: sendfile, copy_file_range, splice and tee.

use abi::Errno;
use vfs::pipe::PipeEnd;
use vfs::OpenFile;

use super::file::{blocking, is_regular, offset_arg, transfer_vectored, Direction, IO_CHUNK};
use super::{arg_i64, arg_len, arg_u32, SyscallResult};
use crate::task::Task;

/// The most one read or write moves (Linux's MAX_RW_COUNT).
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// RWF_* flags preadv2/pwritev2 accept: hints that change nothing for files that never wait
/// on a device. RWF_NOWAIT and RWF_APPEND are EOPNOTSUPP.
const RWF_ACCEPTED: u32 = 0x1 /* HIPRI */ | 0x2 /* DSYNC */ | 0x4 /* SYNC */;

/// splice/tee flags: SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT.
const SPLICE_F_NONBLOCK: u32 = 0x2;
const SPLICE_F_ALL: u32 = 0xf;

/// The pipe end behind `file`, if it is a pipe or an open FIFO.
fn pipe_end(file: &OpenFile) -> Option<&PipeEnd> {
    file.ops().as_any().downcast_ref::<PipeEnd>()
}

fn vectored_at(
    task: &Task,
    a: &[u64; 6],
    direction: Direction,
    offset: Option<u64>,
) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    transfer_vectored(task, &file, direction, a[1], a[2], offset)
}

pub(super) fn preadv(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    vectored_at(task, a, Direction::Read, Some(offset_arg(a[3])?))
}

pub(super) fn pwritev(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    vectored_at(task, a, Direction::Write, Some(offset_arg(a[3])?))
}

/// preadv2/pwritev2: an offset of -1 is the file offset, as readv/writev.
fn vectored_v2(task: &Task, a: &[u64; 6], direction: Direction) -> SyscallResult {
    let flags = arg_u32(a[5]);
    if flags & !RWF_ACCEPTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let offset = match arg_i64(a[3]) {
        -1 => None,
        _ => Some(offset_arg(a[3])?),
    };
    vectored_at(task, a, direction, offset)
}

pub(super) fn preadv2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    vectored_v2(task, a, Direction::Read)
}

pub(super) fn pwritev2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    vectored_v2(task, a, Direction::Write)
}

/// Where one side of an in-kernel copy reads or writes.
#[derive(Clone, Copy)]
enum Position {
    /// At this offset, leaving the file offset alone (a non-NULL offset pointer).
    At(u64),
    /// At the file offset, advancing it.
    FileOffset,
}

/// Moves up to `count` bytes from `src` to `dst` through a Sentry buffer. Only the first read
/// may wait (unless `nonblocking`); a destination pipe is written fully unless non-blocking.
/// Returns how many bytes went, with the final positions of both sides.
fn pump(
    task: &Task,
    src: &OpenFile,
    mut src_pos: Position,
    dst: &OpenFile,
    mut dst_pos: Position,
    count: usize,
    nonblocking: bool,
) -> Result<(usize, Position, Position), Errno> {
    let count = count.min(MAX_RW_COUNT);
    let mut buf = vec![0u8; count.min(IO_CHUNK)];
    let mut done = 0;
    while done < count {
        let want = (count - done).min(IO_CHUNK);
        let chunk = &mut buf[..want];
        let read = match src_pos {
            Position::At(off) => src.pread(chunk, off),
            Position::FileOffset if done == 0 && !nonblocking => {
                blocking(task, src, waiter::events::READABLE, || src.read(chunk))
            }
            Position::FileOffset => src.read(chunk),
        };
        let n = match read {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let written = write_all(task, dst, dst_pos, &buf[..n], nonblocking);
        let written = match written {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        if let Position::At(off) = &mut src_pos {
            *off += written as u64;
        }
        if let Position::At(off) = &mut dst_pos {
            *off += written as u64;
        }
        done += written;
        if written < n || n < want {
            break;
        }
    }
    Ok((done, src_pos, dst_pos))
}

/// Writes `data` to `dst` at `pos` (what RLIMIT_FSIZE lets through); a blocking pipe is
/// written until all of it went.
fn write_all(
    task: &Task,
    dst: &OpenFile,
    pos: Position,
    data: &[u8],
    nonblocking: bool,
) -> Result<usize, Errno> {
    let at = match pos {
        Position::At(off) => Some(off),
        Position::FileOffset => None,
    };
    let data = &data[..super::file::within_file_size_limit(task, dst, at, data.len())?];
    let mut done = 0;
    while done < data.len() {
        let rest = &data[done..];
        let step = match pos {
            Position::At(off) => dst.pwrite(rest, off + done as u64),
            Position::FileOffset if nonblocking => dst.write(rest),
            Position::FileOffset => {
                blocking(task, dst, waiter::events::WRITABLE, || dst.write(rest))
            }
        };
        match step {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EPIPE) => {
                task.kernel
                    .signal_thread(&task.handle, abi::SigInfo::kernel(libc::SIGPIPE));
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EPIPE)
                };
            }
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
        if nonblocking || pipe_end(dst).is_none() {
            break;
        }
    }
    Ok(done)
}

/// Reads an optional `loff_t *` argument: `Position::At` its value, EINVAL if negative.
fn read_position(task: &Task, addr: u64) -> Result<Position, Errno> {
    if addr == 0 {
        return Ok(Position::FileOffset);
    }
    let off: i64 = task.mm.read_obj(addr)?;
    u64::try_from(off)
        .map(Position::At)
        .map_err(|_| Errno::EINVAL)
}

/// Stores a final position back through an optional `loff_t *` argument.
fn write_position(task: &Task, addr: u64, pos: Position) -> Result<(), Errno> {
    if let (Position::At(off), true) = (pos, addr != 0) {
        task.mm.write_obj(addr, &off.cast_signed())?;
    }
    Ok(())
}

pub(super) fn sendfile(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (out, input) = {
        let fds = task.fds();
        (fds.get(a[0])?, fds.get(a[1])?)
    };
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    if out.status_flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let src_pos = read_position(task, a[2])?;
    if matches!(src_pos, Position::At(_)) && pipe_end(&input).is_some() {
        return Err(Errno::ESPIPE);
    }
    let count = arg_len(a[3])?;
    let nonblocking = out.status_flags() & libc::O_NONBLOCK != 0;
    let (done, src_pos, _) = pump(
        task,
        &input,
        src_pos,
        &out,
        Position::FileOffset,
        count,
        nonblocking,
    )?;
    write_position(task, a[2], src_pos)?;
    Ok(done as u64)
}

pub(super) fn copy_file_range(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[5] != 0 {
        return Err(Errno::EINVAL);
    }
    let (input, out) = {
        let fds = task.fds();
        (fds.get(a[0])?, fds.get(a[2])?)
    };
    if !input.readable() || !out.writable() || out.status_flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    for file in [&input, &out] {
        let mode = file.stat()?.st_mode & libc::S_IFMT;
        if mode == libc::S_IFDIR {
            return Err(Errno::EISDIR);
        }
        if mode != libc::S_IFREG {
            return Err(Errno::EINVAL);
        }
    }
    let src_pos = read_position(task, a[1])?;
    let dst_pos = read_position(task, a[3])?;
    let count = arg_len(a[4])?;
    let (src_start, src_explicit) = resolve(&input, src_pos)?;
    let (dst_start, dst_explicit) = resolve(&out, dst_pos)?;
    let (in_stat, out_stat) = (input.stat()?, out.stat()?);
    let same_file = in_stat.st_dev == out_stat.st_dev && in_stat.st_ino == out_stat.st_ino;
    let len = count as u64;
    if same_file
        && src_start < dst_start.saturating_add(len)
        && dst_start < src_start.saturating_add(len)
    {
        return Err(Errno::EINVAL);
    }
    let (done, _, _) = pump(
        task,
        &input,
        Position::At(src_start),
        &out,
        Position::At(dst_start),
        count,
        true,
    )?;
    let moved = done as u64;
    finish(task, &input, a[1], src_explicit, src_start + moved)?;
    finish(task, &out, a[3], dst_explicit, dst_start + moved)?;
    Ok(moved)
}

/// The offset a copy starts at, and whether it came from an offset pointer.
fn resolve(file: &OpenFile, pos: Position) -> Result<(u64, bool), Errno> {
    match pos {
        Position::At(off) => Ok((off, true)),
        Position::FileOffset => Ok((file.seek(0, libc::SEEK_CUR)?, false)),
    }
}

/// Moves a copy's side to `end`: through its offset pointer, or the file offset.
fn finish(task: &Task, file: &OpenFile, addr: u64, explicit: bool, end: u64) -> Result<(), Errno> {
    if explicit {
        return write_position(task, addr, Position::At(end));
    }
    file.seek(end.cast_signed(), libc::SEEK_SET).map(|_| ())
}

pub(super) fn splice(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_u32(a[5]);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let (input, out) = {
        let fds = task.fds();
        (fds.get(a[0])?, fds.get(a[2])?)
    };
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let (in_pipe, out_pipe) = (pipe_end(&input).is_some(), pipe_end(&out).is_some());
    if !in_pipe && !out_pipe {
        return Err(Errno::EINVAL);
    }
    if (in_pipe && a[1] != 0) || (out_pipe && a[3] != 0) {
        return Err(Errno::ESPIPE);
    }
    if out.status_flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let src_pos = read_position(task, a[1])?;
    let dst_pos = read_position(task, a[3])?;
    for (file, pos) in [(&input, src_pos), (&out, dst_pos)] {
        if matches!(pos, Position::FileOffset) && pipe_end(file).is_none() && !is_regular(file) {
            // Only pipes and regular files are spliced here; Linux also splices sockets and
            // devices, which would be EINVAL without their splice operations.
            return Err(Errno::EINVAL);
        }
    }
    let nonblocking = flags & SPLICE_F_NONBLOCK != 0;
    let count = arg_len(a[4])?;
    let (done, src_pos, dst_pos) = pump(task, &input, src_pos, &out, dst_pos, count, nonblocking)?;
    write_position(task, a[1], src_pos)?;
    write_position(task, a[3], dst_pos)?;
    Ok(done as u64)
}

pub(super) fn tee(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_u32(a[3]);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let (input, out) = {
        let fds = task.fds();
        (fds.get(a[0])?, fds.get(a[1])?)
    };
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let (Some(src), Some(dst)) = (pipe_end(&input), pipe_end(&out)) else {
        return Err(Errno::EINVAL);
    };
    if std::sync::Arc::ptr_eq(src.pipe(), dst.pipe()) {
        return Err(Errno::EINVAL);
    }
    let count = arg_len(a[2])?.min(IO_CHUNK);
    let nonblocking = flags & SPLICE_F_NONBLOCK != 0;
    let mut buf = vec![0u8; count];
    let n = if nonblocking {
        src.peek(&mut buf)?
    } else {
        blocking(task, &input, waiter::events::READABLE, || {
            src.peek(&mut buf)
        })?
    };
    Ok(write_all(task, &out, Position::FileOffset, &buf[..n], nonblocking)? as u64)
}
