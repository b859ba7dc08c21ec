//! POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify,
//! mq_getsetattr. The queues are in `crate::ipc::mqueue`.

use std::sync::Arc;

use abi::{Errno, SigInfo, Sigevent, Timespec};
use vfs::OpenFile;

use super::{arg_i32, arg_len, arg_u32, SyscallResult};
use crate::deadline::{duration_of, Deadline};
use crate::ipc::mqueue::{
    MqAttr, Notification, OpenRequest, Queue, QueueFile, MQ_PRIO_MAX, SIGEV_NONE, SIGEV_SIGNAL,
};
use crate::task::{Task, NSIG};

/// si_code of a message queue notification.
const SI_MESGQ: i32 = -3;

/// A queue name: glibc strips the leading slash, the kernel gets the rest.
fn read_name(task: &Task, addr: u64) -> Result<Vec<u8>, Errno> {
    task.mm.read_cstring(addr, super::PATH_MAX)
}

pub(super) fn mq_open(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[0])?;
    let flags = arg_i32(a[1]);
    let mode = arg_u32(a[2]) & !task.fs.lock().umask;
    let attr = if flags & libc::O_CREAT != 0 && a[3] != 0 {
        Some(task.mm.read_obj::<MqAttr>(a[3])?)
    } else {
        None
    };
    let limits = task.kernel.ipc.limits.lock().clone();
    let queue = task.kernel.ipc.mqueue.open(
        &OpenRequest {
            name: &name,
            flags,
            mode,
            attr,
        },
        &task.creds(),
        &limits,
    )?;
    let status = flags & (libc::O_ACCMODE | libc::O_NONBLOCK);
    let file = OpenFile::anonymous(Box::new(QueueFile(queue)), status);
    let limit = task.nofile_limit();
    let fd = task
        .fds()
        .install(file, flags & libc::O_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}

pub(super) fn mq_unlink(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[0])?;
    task.kernel.ipc.mqueue.unlink(&name, &task.creds())?;
    Ok(0)
}

/// The queue behind descriptor `fd` (EBADF if none or not a queue) and its open file.
fn queue_of(task: &Task, fd: u64) -> Result<(Arc<OpenFile>, Arc<Queue>), Errno> {
    let file = task.fds().get(fd)?;
    let queue = QueueFile::of(&file).ok_or(Errno::EBADF)?;
    Ok((file, queue))
}

/// An absolute CLOCK_REALTIME timeout, checked before anything else as Linux does.
fn timeout(task: &Task, addr: u64) -> Result<Deadline, Errno> {
    if addr == 0 {
        return Ok(Deadline::Never);
    }
    let ts: Timespec = task.mm.read_obj(addr)?;
    let at = duration_of(ts)?;
    let now = duration_of(super::time::now(task, libc::CLOCK_REALTIME)?)?;
    Ok(Deadline::when_clock_reads(at, now))
}

/// Runs `attempt` until it stops saying EAGAIN, sleeping on the queue unless the file is
/// non-blocking; ETIMEDOUT when the deadline passes, ERESTARTSYS on a signal.
fn blocking<T>(
    task: &Task,
    file: &OpenFile,
    queue: &Queue,
    deadline: Deadline,
    events: u32,
    mut attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let waiter = Arc::clone(&task.handle.waiter);
    loop {
        match attempt() {
            Err(Errno::EAGAIN) if file.status_flags() & libc::O_NONBLOCK == 0 => {}
            other => return other,
        }
        let _registration = queue.events().register(waiter.clone(), events);
        waiter.clear();
        match attempt() {
            Err(Errno::EAGAIN) => {}
            other => return other,
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTSYS);
        }
        if deadline.has_passed() {
            return Err(Errno::ETIMEDOUT);
        }
        waiter.sleep(deadline.instant());
    }
}

pub(super) fn mq_timedsend(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (file, queue) = queue_of(task, a[0])?;
    let len = arg_len(a[2])?;
    let priority = arg_u32(a[3]);
    if priority >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let deadline = timeout(task, a[4])?;
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    if len > usize::try_from(queue.attr().msgsize).unwrap_or(0) {
        return Err(Errno::EMSGSIZE);
    }
    let mut message = vec![0u8; len];
    task.mm.copy_in(a[1], &mut message)?;
    let delivery = blocking(
        task,
        &file,
        &queue,
        deadline,
        waiter::events::WRITABLE,
        || queue.send(&message, priority),
    )?;
    if let Some(n) = delivery.filter(|n| n.notify == SIGEV_SIGNAL && n.signo != 0) {
        let target = task.kernel.pids.lock().group(n.tgid);
        if let Some(target) = target {
            let mut info = SigInfo::from_process(n.signo, SI_MESGQ, task.pid(), task.creds().ruid);
            info.fields[1] = n.value;
            task.kernel.signal_group(&target, info);
        }
    }
    Ok(0)
}

pub(super) fn mq_timedreceive(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (file, queue) = queue_of(task, a[0])?;
    let max = arg_len(a[2])?;
    let deadline = timeout(task, a[4])?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    let mut waiting = false;
    let result = blocking(
        task,
        &file,
        &queue,
        deadline,
        waiter::events::READABLE,
        || {
            let result = queue.receive(max);
            // A receiver about to sleep keeps notifications back (Linux sends none while one waits).
            let sleeps =
                result == Err(Errno::EAGAIN) && file.status_flags() & libc::O_NONBLOCK == 0;
            if sleeps != waiting {
                queue.receiver_waiting(sleeps);
                waiting = sleeps;
            }
            result
        },
    );
    if waiting {
        queue.receiver_waiting(false);
    }
    let (message, priority) = result?;
    task.mm.copy_out(a[1], &message)?;
    if a[3] != 0 {
        task.mm.write_obj(a[3], &priority)?;
    }
    Ok(message.len() as u64)
}

pub(super) fn mq_notify(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (_, queue) = queue_of(task, a[0])?;
    let notification = if a[1] == 0 {
        None
    } else {
        let event: Sigevent = task.mm.read_obj(a[1])?;
        match event.notify {
            SIGEV_NONE => {}
            SIGEV_SIGNAL if (0..=NSIG).contains(&event.signo) => {}
            // SIGEV_THREAD needs a netlink socket to wake the C library's thread: none here.
            _ => return Err(Errno::EINVAL),
        }
        Some(Notification {
            tgid: task.pid(),
            notify: event.notify,
            signo: event.signo,
            value: event.value,
        })
    };
    task.kernel
        .ipc
        .mqueue
        .notify(&queue, task.pid(), notification)?;
    Ok(0)
}

pub(super) fn mq_getsetattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (file, queue) = queue_of(task, a[0])?;
    let new = if a[1] == 0 {
        None
    } else {
        let attr: MqAttr = task.mm.read_obj(a[1])?;
        if attr.flags & !i64::from(libc::O_NONBLOCK) != 0 {
            return Err(Errno::EINVAL);
        }
        Some(attr)
    };
    let mut old = queue.attr();
    old.flags = i64::from(file.status_flags() & libc::O_NONBLOCK);
    if let Some(new) = new {
        let flags = file.status_flags() & !libc::O_NONBLOCK;
        #[expect(clippy::cast_possible_truncation, reason = "only O_NONBLOCK is left")]
        file.set_status_flags(flags | new.flags as i32);
    }
    if a[2] != 0 {
        task.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}
