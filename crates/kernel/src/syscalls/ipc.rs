//! System V IPC: shmget/shmat/shmdt/shmctl, semget/semop/semtimedop/semctl,
//! msgget/msgsnd/msgrcv/msgctl. The objects and their rules are in `crate::ipc`; this file
//! copies arguments in and out and sleeps where a call blocks.

use std::sync::Arc;

use abi::{Errno, Timespec};
use mm::MmapRequest;
use platform::Prot;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_i64, SyscallResult};
use crate::deadline::{duration_of, Deadline};
use crate::ipc::msg::{
    MessageQueue, MsqidDs, QueueEvents, Selector, MSG_COPY, MSG_EXCEPT, MSG_NOERROR,
};
use crate::ipc::sem::{Sembuf, SemidDs, Semop};
use crate::ipc::shm::{Segment, ShmidDs, SHM_EXEC, SHM_HUGETLB, SHM_RDONLY, SHM_REMAP, SHM_RND};
use crate::ipc::{
    now_secs, IpcObject, Lookup, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, MAY_READ,
    MAY_WRITE,
};
use crate::task::Task;

// semctl commands.
const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;
// msgctl commands.
const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;
// shmctl commands.
const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;

/// CAP_IPC_LOCK: SHM_LOCK of another's segment.
const CAP_IPC_LOCK: u32 = 14;
/// The smallest segment (SHMMIN) and the attach alignment (SHMLBA, a page on amd64).
const SHMMIN: u64 = 1;
const SHMLBA: u64 = abi::PAGE_SIZE;

/// `struct seminfo`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Seminfo {
    semmap: i32,
    semmni: i32,
    semmns: i32,
    semmnu: i32,
    semmsl: i32,
    semopm: i32,
    semume: i32,
    semusz: i32,
    semvmx: i32,
    semaem: i32,
}

/// `struct msginfo`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Msginfo {
    msgpool: i32,
    msgmap: i32,
    msgmax: i32,
    msgmnb: i32,
    msgmni: i32,
    msgssz: i32,
    msgtql: i32,
    msgseg: u16,
    pad: u16,
}

/// `struct shminfo64`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Shminfo {
    shmmax: u64,
    shmmin: u64,
    shmmni: u64,
    shmseg: u64,
    shmall: u64,
    unused: [u64; 4],
}

/// `struct shm_info`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct ShmInfo {
    used_ids: i32,
    pad: i32,
    shm_tot: u64,
    shm_rss: u64,
    shm_swp: u64,
    swap_attempts: u64,
    swap_successes: u64,
}

fn clamp_i32(value: impl TryInto<i32>) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// A count or id as a return value.
fn ret(value: impl TryInto<i64>) -> u64 {
    value.try_into().unwrap_or(i64::MAX).cast_unsigned()
}

// ---- semaphores ----

pub(super) fn semget(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let limits = task.kernel.ipc.limits.lock().sem;
    let creds = task.creds();
    let id = task.kernel.ipc.sem.get(
        arg_i32(a[0]),
        arg_i32(a[1]),
        arg_i32(a[2]),
        &creds,
        limits,
        now_secs(),
    )?;
    Ok(ret(id))
}

pub(super) fn semop(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    do_semop(task, a[0], a[1], a[2], 0)
}

pub(super) fn semtimedop(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    do_semop(task, a[0], a[1], a[2], a[3])
}

/// semop and semtimedop: checked in Linux's order, then tried at once or queued and waited
/// for (EINTR on a signal, never restarted; EAGAIN when the timeout passes).
fn do_semop(task: &Task, id: u64, sops: u64, nsops: u64, timeout: u64) -> SyscallResult {
    let semopm = task.kernel.ipc.limits.lock().sem[2];
    if nsops == 0 {
        return Err(Errno::EINVAL);
    }
    if nsops > u64::from(semopm) {
        return Err(Errno::E2BIG);
    }
    let count = usize::try_from(nsops).map_err(|_| Errno::E2BIG)?;
    let mut ops = vec![Sembuf::default(); count];
    task.mm.copy_in(sops, ops.as_mut_bytes())?;
    let deadline = if timeout == 0 {
        Deadline::Never
    } else {
        let ts: Timespec = task.mm.read_obj(timeout)?;
        Deadline::after(duration_of(ts)?)
    };
    let id = arg_i32(id);
    let sems = &task.kernel.ipc.sem;
    let waiter = Arc::clone(&task.handle.waiter);
    waiter.clear();
    let slot = match sems.semop(id, ops, &task.creds(), task.pid(), &waiter, now_secs())? {
        Semop::Done => return Ok(0),
        Semop::Queued(slot) => slot,
    };
    loop {
        if let Some(outcome) = slot.outcome() {
            return outcome.map(|()| 0);
        }
        let gave_up = if task.has_deliverable_signal() {
            Errno::EINTR
        } else if deadline.has_passed() {
            Errno::EAGAIN
        } else {
            waiter.sleep(deadline.instant());
            continue;
        };
        return match sems.cancel(id, &slot) {
            Some(outcome) => outcome.map(|()| 0),
            None => Err(gave_up),
        };
    }
}

pub(super) fn semctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, num, cmd, arg) = (arg_i32(a[0]), arg_i32(a[1]), arg_i32(a[2]), a[3]);
    let now = now_secs();
    let creds = task.creds();
    let sems = &task.kernel.ipc.sem;
    match cmd {
        IPC_INFO | SEM_INFO => {
            let [msl, mns, opm, mni] = task.kernel.ipc.limits.lock().sem.map(clamp_i32);
            let mut info = Seminfo {
                semmap: mns,
                semmni: mni,
                semmns: mns,
                semmnu: mns,
                semmsl: msl,
                semopm: opm,
                semume: opm,
                semusz: 20,
                semvmx: crate::ipc::sem::SEMVMX,
                semaem: crate::ipc::sem::SEMVMX,
            };
            if cmd == SEM_INFO {
                let (sets, total) = sems.usage();
                info.semusz = clamp_i32(sets);
                info.semaem = clamp_i32(total);
            }
            task.mm.write_obj(arg, &info)?;
            Ok(ret(sems.sets.lock().highest_index()))
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let mut sets = sems.sets.lock();
            let (ret_id, set) = if cmd == IPC_STAT {
                (0, sets.get(id)?)
            } else {
                sets.by_index(id)?
            };
            if cmd != SEM_STAT_ANY {
                set.perm().check(&creds, MAY_READ)?;
            }
            let ds = set.stat();
            drop(sets);
            task.mm.write_obj(arg, &ds)?;
            Ok(ret(ret_id))
        }
        IPC_SET => {
            let ds: SemidDs = task.mm.read_obj(arg)?;
            let mut sets = sems.sets.lock();
            let set = sets.get(id)?;
            set.perm().check_owner(&creds)?;
            set.set(&ds, now);
            Ok(0)
        }
        IPC_RMID => sems.remove(id, &creds).map(|()| 0),
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let mut sets = sems.sets.lock();
            let set = sets.get(id)?;
            set.perm().check(&creds, MAY_READ)?;
            let value = match cmd {
                GETVAL => i64::from(set.value(num)?),
                GETPID => i64::from(set.pid(num)?),
                _ => ret(set.waiting(num, cmd == GETZCNT)?).cast_signed(),
            };
            Ok(value.cast_unsigned())
        }
        GETALL => {
            let values = {
                let mut sets = sems.sets.lock();
                let set = sets.get(id)?;
                set.perm().check(&creds, MAY_READ)?;
                set.values()
            };
            task.mm.copy_out(arg, values.as_bytes())?;
            Ok(0)
        }
        SETVAL => {
            let mut sets = sems.sets.lock();
            let set = sets.get(id)?;
            set.perm().check(&creds, MAY_WRITE)?;
            // semun's `val` is an int: the register's low half.
            set.set_value(num, arg_i32(arg), task.pid(), now)?;
            Ok(0)
        }
        SETALL => {
            let nsems = {
                let mut sets = sems.sets.lock();
                let set = sets.get(id)?;
                set.perm().check(&creds, MAY_WRITE)?;
                set.nsems()
            };
            let mut values = vec![0u16; nsems];
            task.mm.copy_in(arg, values.as_mut_bytes())?;
            let mut sets = sems.sets.lock();
            let set = sets.get(id)?;
            if set.nsems() != nsems {
                return Err(Errno::EIDRM);
            }
            set.set_all(&values, task.pid(), now)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- message queues ----

pub(super) fn msgget(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (key, flags) = (arg_i32(a[0]), arg_i32(a[1]));
    let (msgmnb, msgmni) = {
        let limits = task.kernel.ipc.limits.lock();
        (limits.msgmnb, limits.msgmni)
    };
    let creds = task.creds();
    let mut queues = task.kernel.ipc.msg.lock();
    let perm = match queues.get_or_create(key, flags, &creds, |_| Ok(()))? {
        Lookup::Existing(id) => return Ok(ret(id)),
        Lookup::Create(perm) => perm,
    };
    let id = queues.insert(MessageQueue::new(perm, msgmnb, now_secs()), msgmni as usize)?;
    Ok(ret(id))
}

/// Waits on a message queue's events until `attempt` stops saying EAGAIN: EIDRM if the queue
/// goes meanwhile, ERESTARTNOHAND on a signal (as Linux's msgsnd and msgrcv).
fn wait_on_queue<T>(
    task: &Task,
    id: i32,
    nowait: bool,
    mut attempt: impl FnMut(&mut MessageQueue) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let mut events: Option<Arc<QueueEvents>> = None;
    let waiter = Arc::clone(&task.handle.waiter);
    loop {
        let result = {
            let mut queues = task.kernel.ipc.msg.lock();
            match queues.get(id) {
                Ok(queue) => {
                    events.get_or_insert_with(|| Arc::clone(&queue.events));
                    attempt(queue)
                }
                Err(_) if events.as_ref().is_some_and(|e| e.removed()) => Err(Errno::EIDRM),
                Err(errno) => Err(errno),
            }
        };
        match result {
            Err(Errno::EAGAIN) if !nowait => {}
            other => return other,
        }
        let Some(events) = events.as_ref() else {
            return Err(Errno::EAGAIN);
        };
        let registration = events.queue.register(
            waiter.clone(),
            waiter::events::READABLE | waiter::events::WRITABLE,
        );
        waiter.clear();
        // Re-check now that no change can be missed.
        let again = {
            let mut queues = task.kernel.ipc.msg.lock();
            match queues.get(id) {
                Ok(queue) => attempt(queue),
                Err(_) => Err(Errno::EIDRM),
            }
        };
        match again {
            Err(Errno::EAGAIN) => {}
            other => return other,
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTNOHAND);
        }
        waiter.sleep(None);
        drop(registration);
    }
}

pub(super) fn msgsnd(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, msgp, flags) = (arg_i32(a[0]), a[1], arg_i32(a[3]));
    let size = arg_i64(a[2]);
    let msgmax = task.kernel.ipc.limits.lock().msgmax;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= msgmax as usize)
        .ok_or(Errno::EINVAL)?;
    let mtype: i64 = task.mm.read_obj(msgp)?;
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let mut text = vec![0u8; size];
    task.mm.copy_in(msgp + 8, &mut text)?;
    let creds = task.creds();
    let pid = task.pid();
    wait_on_queue(task, id, flags & IPC_NOWAIT != 0, |queue| {
        queue.perm().check(&creds, MAY_WRITE)?;
        queue.send(mtype, text.clone(), pid, now_secs())
    })?;
    Ok(0)
}

pub(super) fn msgrcv(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, msgp, msgtyp, flags) = (arg_i32(a[0]), a[1], arg_i64(a[3]), arg_i32(a[4]));
    let max = usize::try_from(arg_i64(a[2])).map_err(|_| Errno::EINVAL)?;
    if flags & MSG_COPY != 0 {
        // MSG_COPY is for checkpoint/restore, which Linux builds without by default.
        return Err(Errno::ENOSYS);
    }
    let selector = Selector {
        msgtyp,
        except: flags & MSG_EXCEPT != 0,
    };
    let creds = task.creds();
    let pid = task.pid();
    let nowait = flags & IPC_NOWAIT != 0;
    let (mtype, text) = wait_on_queue(task, id, false, |queue| {
        queue.perm().check(&creds, MAY_READ)?;
        match queue.receive(selector, max, flags & MSG_NOERROR != 0, pid, now_secs()) {
            Err(Errno::ENOMSG) if !nowait => Err(Errno::EAGAIN),
            other => other,
        }
    })?;
    task.mm.write_obj(msgp, &mtype)?;
    task.mm.copy_out(msgp + 8, &text)?;
    Ok(text.len() as u64)
}

pub(super) fn msgctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, cmd, buf) = (arg_i32(a[0]), arg_i32(a[1]), a[2]);
    let creds = task.creds();
    let ipc = &task.kernel.ipc;
    match cmd {
        IPC_INFO | MSG_INFO => {
            let limits = ipc.limits.lock().clone();
            let mut info = Msginfo {
                msgpool: clamp_i32(u64::from(limits.msgmni) * u64::from(limits.msgmnb) / 1024),
                msgmap: clamp_i32(limits.msgmnb),
                msgmax: clamp_i32(limits.msgmax),
                msgmnb: clamp_i32(limits.msgmnb),
                msgmni: clamp_i32(limits.msgmni),
                msgssz: 16,
                msgtql: clamp_i32(limits.msgmnb),
                msgseg: u16::MAX,
                pad: 0,
            };
            let queues = ipc.msg.lock();
            if cmd == MSG_INFO {
                let (messages, bytes) = queues.iter().fold((0, 0), |(m, b), (_, q)| {
                    let (qm, qb) = q.usage();
                    (m + qm, b + qb)
                });
                info.msgpool = clamp_i32(queues.len());
                info.msgmap = clamp_i32(messages);
                info.msgtql = clamp_i32(bytes);
            }
            let highest = queues.highest_index();
            drop(queues);
            task.mm.write_obj(buf, &info)?;
            Ok(ret(highest))
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let mut queues = ipc.msg.lock();
            let (ret_id, queue) = if cmd == IPC_STAT {
                (0, queues.get(id)?)
            } else {
                queues.by_index(id)?
            };
            if cmd != MSG_STAT_ANY {
                queue.perm().check(&creds, MAY_READ)?;
            }
            let ds = queue.stat();
            drop(queues);
            task.mm.write_obj(buf, &ds)?;
            Ok(ret(ret_id))
        }
        IPC_SET => {
            let ds: MsqidDs = task.mm.read_obj(buf)?;
            let msgmnb = ipc.limits.lock().msgmnb;
            let mut queues = ipc.msg.lock();
            let queue = queues.get(id)?;
            queue.perm().check_owner(&creds)?;
            let may_exceed = creds.capable(crate::ipc::mqueue::CAP_SYS_RESOURCE);
            queue.set(&ds, msgmnb, may_exceed, now_secs())?;
            Ok(0)
        }
        IPC_RMID => {
            let mut queues = ipc.msg.lock();
            queues.get(id)?.perm().check_owner(&creds)?;
            if let Some(queue) = queues.remove(id) {
                queue.destroy();
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---- shared memory ----

pub(super) fn shmget(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (key, size, flags) = (arg_i32(a[0]), a[1], arg_i32(a[2]));
    if flags & SHM_HUGETLB != 0 {
        // No huge pages in the memory file.
        return Err(Errno::EINVAL);
    }
    let limits = task.kernel.ipc.limits.lock().clone();
    let creds = task.creds();
    let mut segments = task.kernel.ipc.shm.lock();
    segments.retain(Segment::alive);
    let perm = match segments.get_or_create(key, flags, &creds, |segment| {
        if size > segment.size() {
            Err(Errno::EINVAL)
        } else {
            Ok(())
        }
    })? {
        Lookup::Existing(id) => return Ok(ret(id)),
        Lookup::Create(perm) => perm,
    };
    if size < SHMMIN || size > limits.shmmax {
        return Err(Errno::EINVAL);
    }
    let pages = |bytes: u64| bytes.div_ceil(abi::PAGE_SIZE);
    let in_use: u64 = segments.iter().map(|(_, s)| pages(s.size())).sum();
    if in_use.saturating_add(pages(size)) > limits.shmall {
        return Err(Errno::ENOSPC);
    }
    let file = task
        .kernel
        .vfs
        .memfd_create(format!("SYSV{:08x}", perm.key).as_bytes())?;
    file.truncate(size)?;
    let segment = Segment::new(perm, size, file, task.pid(), now_secs())?;
    let max = usize::try_from(limits.shmmni).unwrap_or(usize::MAX);
    Ok(ret(segments.insert(segment, max)?))
}

pub(super) fn shmat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, mut addr, flags) = (arg_i32(a[0]), a[1], arg_i32(a[2]));
    if !addr.is_multiple_of(SHMLBA) {
        if flags & SHM_RND == 0 {
            return Err(Errno::EINVAL);
        }
        addr &= !(SHMLBA - 1);
    }
    if addr == 0 && flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let read_only = flags & SHM_RDONLY != 0;
    let want = if read_only {
        MAY_READ
    } else {
        MAY_READ | MAY_WRITE
    };
    let creds = task.creds();
    let (mapping, size) = {
        let mut segments = task.kernel.ipc.shm.lock();
        segments.retain(Segment::alive);
        let segment = segments.get(id)?;
        segment.perm().check(&creds, want)?;
        let mapping = segment.mapping(super::memory::mappable)?;
        (mapping, segment.size())
    };
    let prot = Prot {
        read: true,
        write: !read_only,
        exec: flags & SHM_EXEC != 0,
    };
    let fixed = addr != 0;
    let mapped = task.mm.mmap(MmapRequest {
        addr,
        len: size,
        prot,
        fixed: fixed && flags & SHM_REMAP != 0,
        // Without SHM_REMAP an address over an existing mapping is EINVAL.
        fixed_noreplace: fixed && flags & SHM_REMAP == 0,
        shared: true,
        file: Some((mapping, 0)),
        grows_down: false,
    });
    let mapped = match mapped {
        Err(Errno::EEXIST) => return Err(Errno::EINVAL),
        other => other?,
    };
    if let Ok(segment) = task.kernel.ipc.shm.lock().get(id) {
        segment.attached(task.pid(), now_secs());
    }
    Ok(mapped)
}

pub(super) fn shmdt(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let addr = a[0];
    if !addr.is_multiple_of(abi::PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let maps = task.mm.maps();
    let Some(first) = maps
        .iter()
        .find(|m| m.start == addr && m.shared && m.offset == 0)
    else {
        return Err(Errno::EINVAL);
    };
    let (device, inode) = (first.device, first.inode);
    let segment = {
        let mut segments = task.kernel.ipc.shm.lock();
        let found = segments
            .iter_mut()
            .find(|(_, s)| s.device == device && s.inode == inode && inode != 0)
            .map(|(_, s)| {
                s.detached(task.pid(), now_secs());
                s.size()
            });
        found.ok_or(Errno::EINVAL)?
    };
    // Every piece of this attachment: mappings of the segment's file at their own offset from
    // `addr`, within the segment's size (as Linux's shmdt walks the VMAs).
    let end = addr.saturating_add(abi::page_ceil(segment).unwrap_or(u64::MAX));
    for piece in maps
        .iter()
        .filter(|m| m.device == device && m.inode == inode && m.start >= addr && m.start < end)
        .filter(|m| m.offset == m.start - addr)
    {
        task.mm
            .munmap(piece.start, piece.end.min(end) - piece.start)?;
    }
    Ok(0)
}

pub(super) fn shmctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (id, cmd, buf) = (arg_i32(a[0]), arg_i32(a[1]), a[2]);
    let creds = task.creds();
    let ipc = &task.kernel.ipc;
    let now = now_secs();
    let mut segments = ipc.shm.lock();
    segments.retain(Segment::alive);
    match cmd {
        IPC_INFO => {
            let limits = ipc.limits.lock().clone();
            let info = Shminfo {
                shmmax: limits.shmmax,
                shmmin: SHMMIN,
                shmmni: limits.shmmni,
                shmseg: limits.shmmni,
                shmall: limits.shmall,
                unused: [0; 4],
            };
            let highest = segments.highest_index();
            drop(segments);
            task.mm.write_obj(buf, &info)?;
            Ok(ret(highest))
        }
        SHM_INFO => {
            let pages: u64 = segments
                .iter()
                .map(|(_, s)| s.size().div_ceil(abi::PAGE_SIZE))
                .sum();
            let info = ShmInfo {
                used_ids: clamp_i32(segments.len()),
                shm_tot: pages,
                shm_rss: pages,
                ..ShmInfo::default()
            };
            let highest = segments.highest_index();
            drop(segments);
            task.mm.write_obj(buf, &info)?;
            Ok(ret(highest))
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (ret_id, segment) = if cmd == IPC_STAT {
                (0, segments.get(id)?)
            } else {
                segments.by_index(id)?
            };
            if cmd != SHM_STAT_ANY {
                segment.perm().check(&creds, MAY_READ)?;
            }
            let ds = segment.stat();
            drop(segments);
            task.mm.write_obj(buf, &ds)?;
            Ok(ret(ret_id))
        }
        IPC_SET => {
            drop(segments);
            let ds: ShmidDs = task.mm.read_obj(buf)?;
            let mut segments = ipc.shm.lock();
            let segment = segments.get(id)?;
            segment.perm().check_owner(&creds)?;
            segment.set(&ds, now);
            Ok(0)
        }
        IPC_RMID => {
            let segment = segments.get(id)?;
            segment.perm().check_owner(&creds)?;
            if segment.destroy() {
                let gone = segments.remove(id);
                drop(segments);
                drop(gone);
            }
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let segment = segments.get(id)?;
            if !creds.capable(CAP_IPC_LOCK) {
                let perm = segment.perm();
                if creds.euid != perm.uid && creds.euid != perm.cuid {
                    return Err(Errno::EPERM);
                }
            }
            segment.set_locked(cmd == SHM_LOCK);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_amd64_sizes() {
        assert_eq!(size_of::<crate::ipc::IpcPermRaw>(), 48);
        assert_eq!(size_of::<SemidDs>(), 104);
        assert_eq!(size_of::<MsqidDs>(), 120);
        assert_eq!(size_of::<ShmidDs>(), 112);
        assert_eq!(size_of::<Seminfo>(), 40);
        assert_eq!(size_of::<Msginfo>(), 32);
        assert_eq!(size_of::<Shminfo>(), 72);
        assert_eq!(size_of::<ShmInfo>(), 48);
        assert_eq!(size_of::<Sembuf>(), 6);
    }
}
