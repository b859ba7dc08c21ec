//! The sandbox's IPC namespace: System V shared memory, semaphores and message queues, and
//! POSIX message queues.
//!
//! Each System V family keeps its objects in a [`Registry`]: ids that combine a slot index
//! with a sequence number (as Linux's `ipc_buildid`), keys, and an [`IpcPerm`] checked against
//! the caller's credentials as Linux's `ipcperms` does.

pub(crate) mod mqueue;
pub(crate) mod msg;
pub(crate) mod sem;
pub(crate) mod shm;

use std::collections::BTreeMap;

use abi::Errno;
use parking_lot::Mutex;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::task::Credentials;

/// IPC_PRIVATE: always a new object, never found by key.
pub(crate) const IPC_PRIVATE: i32 = 0;
pub(crate) const IPC_CREAT: i32 = 0o1000;
pub(crate) const IPC_EXCL: i32 = 0o2000;
pub(crate) const IPC_NOWAIT: i32 = 0o4000;

pub(crate) const IPC_RMID: i32 = 0;
pub(crate) const IPC_SET: i32 = 1;
pub(crate) const IPC_STAT: i32 = 2;
pub(crate) const IPC_INFO: i32 = 3;

/// Ids are `seq * SEQ_MULTIPLIER + index` (Linux's IPCMNI).
const SEQ_MULTIPLIER: i32 = 32768;
/// The largest sequence number before it wraps to 0 (Linux's IPCID_SEQ_MAX).
const SEQ_MAX: i32 = i32::MAX / SEQ_MULTIPLIER;

/// CAP_IPC_OWNER: bypasses IPC permission checks.
const CAP_IPC_OWNER: u32 = 15;
/// CAP_SYS_ADMIN: may change or remove any IPC object.
const CAP_SYS_ADMIN: u32 = crate::syscalls::CAP_SYS_ADMIN;

/// What an operation needs of an object's mode: read (0o4) or write/alter (0o2) bits.
pub(crate) const MAY_READ: u32 = 0o4;
pub(crate) const MAY_WRITE: u32 = 0o2;

/// `struct ipc64_perm` as amd64 lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct IpcPermRaw {
    pub(crate) key: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) cuid: u32,
    pub(crate) cgid: u32,
    pub(crate) mode: u32,
    pub(crate) seq: u16,
    pub(crate) pad: [u16; 3],
    pub(crate) unused: [u64; 2],
}

/// An object's key, owner, creator and mode.
#[derive(Clone, Debug)]
pub(crate) struct IpcPerm {
    pub(crate) key: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) cuid: u32,
    pub(crate) cgid: u32,
    /// The permission bits and the family's state flags (SHM_DEST, SHM_LOCKED).
    pub(crate) mode: u32,
    pub(crate) seq: u16,
}

impl IpcPerm {
    fn new(key: i32, mode: u32, creds: &Credentials) -> IpcPerm {
        IpcPerm {
            key,
            uid: creds.euid,
            gid: creds.egid,
            cuid: creds.euid,
            cgid: creds.egid,
            mode: mode & 0o777,
            seq: 0,
        }
    }

    /// Linux's `ipcperms`: the owner's, group's or others' bits must grant `want`, unless the
    /// caller has CAP_IPC_OWNER.
    pub(crate) fn check(&self, creds: &Credentials, want: u32) -> Result<(), Errno> {
        let granted = if creds.euid == self.cuid || creds.euid == self.uid {
            self.mode >> 6
        } else if in_group(creds, self.cgid) || in_group(creds, self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        if want & !granted & 0o7 != 0 && !creds.capable(CAP_IPC_OWNER) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// IPC_SET and IPC_RMID: the owner, the creator or CAP_SYS_ADMIN (else EPERM).
    pub(crate) fn check_owner(&self, creds: &Credentials) -> Result<(), Errno> {
        if creds.euid == self.cuid || creds.euid == self.uid || creds.capable(CAP_SYS_ADMIN) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// IPC_SET: the new owner and permission bits (state flags kept).
    pub(crate) fn set(&mut self, raw: &IpcPermRaw) {
        self.uid = raw.uid;
        self.gid = raw.gid;
        self.mode = (self.mode & !0o777) | (raw.mode & 0o777);
    }

    pub(crate) fn raw(&self) -> IpcPermRaw {
        IpcPermRaw {
            key: self.key,
            uid: self.uid,
            gid: self.gid,
            cuid: self.cuid,
            cgid: self.cgid,
            mode: self.mode,
            seq: self.seq,
            ..IpcPermRaw::default()
        }
    }
}

fn in_group(creds: &Credentials, gid: u32) -> bool {
    creds.fsgid == gid || creds.groups.contains(&gid)
}

/// What an IPC object exposes to its registry.
pub(crate) trait IpcObject {
    fn perm(&self) -> &IpcPerm;
    fn perm_mut(&mut self) -> &mut IpcPerm;
}

/// The objects of one System V family, by slot index.
pub(crate) struct Registry<T> {
    objects: BTreeMap<i32, T>,
    /// The sequence number the next object gets.
    seq: i32,
    /// The index given out last: reusing a lower one bumps the sequence (Linux's last_idx).
    last_index: i32,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            objects: BTreeMap::new(),
            seq: 0,
            last_index: -1,
        }
    }
}

/// What `Registry::get_or_create` found or made.
pub(crate) enum Lookup {
    Existing(i32),
    /// No object has the key and IPC_CREAT was given: the caller makes one with this perm.
    Create(IpcPerm),
}

impl<T: IpcObject> Registry<T> {
    /// The shared part of shmget/semget/msgget: find `key`'s object (checking IPC_EXCL, the
    /// family's `more_checks` and the mode the flags ask for, in Linux's order) or say what a
    /// new one's perm is.
    pub(crate) fn get_or_create(
        &mut self,
        key: i32,
        flags: i32,
        creds: &Credentials,
        more_checks: impl FnOnce(&T) -> Result<(), Errno>,
    ) -> Result<Lookup, Errno> {
        let mode = flags.cast_unsigned() & 0o777;
        if key != IPC_PRIVATE {
            let found = self
                .objects
                .iter_mut()
                .find(|(_, o)| o.perm().key == key)
                .map(|(&index, o)| (index, o));
            if let Some((index, object)) = found {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                more_checks(object)?;
                // The access asked for is the mode's owner bits (Linux's `ipc_check_perms`).
                object.perm().check(creds, mode >> 6)?;
                let id = make_id(object.perm().seq, index);
                return Ok(Lookup::Existing(id));
            }
            if flags & IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
        }
        Ok(Lookup::Create(IpcPerm::new(key, mode, creds)))
    }

    /// Adds `object` in the lowest free slot, if fewer than `max` exist (else ENOSPC).
    pub(crate) fn insert(&mut self, mut object: T, max: usize) -> Result<i32, Errno> {
        if self.objects.len() >= max.min(SEQ_MULTIPLIER as usize) {
            return Err(Errno::ENOSPC);
        }
        let index = (0..SEQ_MULTIPLIER)
            .find(|i| !self.objects.contains_key(i))
            .ok_or(Errno::ENOSPC)?;
        if index <= self.last_index {
            self.seq = if self.seq >= SEQ_MAX { 0 } else { self.seq + 1 };
        }
        self.last_index = index;
        let seq = u16::try_from(self.seq).unwrap_or(0);
        object.perm_mut().seq = seq;
        self.objects.insert(index, object);
        Ok(make_id(seq, index))
    }

    /// The object `id` names (EINVAL for no such object or a stale sequence number).
    pub(crate) fn get(&mut self, id: i32) -> Result<&mut T, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        let object = self
            .objects
            .get_mut(&(id % SEQ_MULTIPLIER))
            .ok_or(Errno::EINVAL)?;
        if i32::from(object.perm().seq) != id / SEQ_MULTIPLIER {
            return Err(Errno::EINVAL);
        }
        Ok(object)
    }

    /// The object in slot `index` and its id (the *_STAT commands take an index).
    pub(crate) fn by_index(&mut self, index: i32) -> Result<(i32, &mut T), Errno> {
        let object = self.objects.get_mut(&index).ok_or(Errno::EINVAL)?;
        Ok((make_id(object.perm().seq, index), object))
    }

    pub(crate) fn remove(&mut self, id: i32) -> Option<T> {
        self.objects.remove(&(id % SEQ_MULTIPLIER))
    }

    /// The highest slot in use (what IPC_INFO and *_INFO return), 0 when empty.
    pub(crate) fn highest_index(&self) -> i32 {
        self.objects.keys().next_back().copied().unwrap_or(0)
    }

    /// Drops the objects `keep` says are gone.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.objects.retain(|_, o| keep(o));
    }

    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i32, &T)> {
        self.objects
            .iter()
            .map(|(&index, o)| (make_id(o.perm().seq, index), o))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut T)> {
        self.objects
            .iter_mut()
            .map(|(&index, o)| (make_id(o.perm().seq, index), o))
    }
}

fn make_id(seq: u16, index: i32) -> i32 {
    i32::from(seq) * SEQ_MULTIPLIER + index
}

/// The limits /proc/sys/kernel and /proc/sys/fs/mqueue show and root may change.
#[derive(Clone, Debug)]
pub(crate) struct IpcLimits {
    pub(crate) shmmax: u64,
    pub(crate) shmall: u64,
    pub(crate) shmmni: u64,
    /// SEMMSL, SEMMNS, SEMOPM, SEMMNI, as /proc/sys/kernel/sem lists them.
    pub(crate) sem: [u32; 4],
    pub(crate) msgmax: u32,
    pub(crate) msgmnb: u32,
    pub(crate) msgmni: u32,
    pub(crate) mq_msg_max: u32,
    pub(crate) mq_msgsize_max: u32,
    pub(crate) mq_queues_max: u32,
}

impl Default for IpcLimits {
    /// Linux's defaults.
    fn default() -> Self {
        IpcLimits {
            shmmax: u64::MAX - (1 << 24),
            shmall: u64::MAX - (1 << 24),
            shmmni: 4096,
            sem: [32000, 1_024_000_000, 500, 32000],
            msgmax: 8192,
            msgmnb: 16384,
            msgmni: 32000,
            mq_msg_max: 10,
            mq_msgsize_max: 8192,
            mq_queues_max: 256,
        }
    }
}

/// A tunable IPC limit, as /proc/sys names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum IpcLimit {
    Shmmax,
    Shmall,
    Shmmni,
    Sem,
    Msgmax,
    Msgmnb,
    Msgmni,
    MqMsgMax,
    MqMsgsizeMax,
    MqQueuesMax,
}

impl IpcLimits {
    /// The text of the /proc/sys file for `limit`, newline included.
    pub(crate) fn render(&self, limit: IpcLimit) -> String {
        match limit {
            IpcLimit::Shmmax => format!("{}\n", self.shmmax),
            IpcLimit::Shmall => format!("{}\n", self.shmall),
            IpcLimit::Shmmni => format!("{}\n", self.shmmni),
            IpcLimit::Sem => {
                let [msl, mns, opm, mni] = self.sem;
                format!("{msl}\t{mns}\t{opm}\t{mni}\n")
            }
            IpcLimit::Msgmax => format!("{}\n", self.msgmax),
            IpcLimit::Msgmnb => format!("{}\n", self.msgmnb),
            IpcLimit::Msgmni => format!("{}\n", self.msgmni),
            IpcLimit::MqMsgMax => format!("{}\n", self.mq_msg_max),
            IpcLimit::MqMsgsizeMax => format!("{}\n", self.mq_msgsize_max),
            IpcLimit::MqQueuesMax => format!("{}\n", self.mq_queues_max),
        }
    }

    /// Sets `limit` from what was written to its /proc/sys file (EINVAL if not numbers).
    pub(crate) fn write(&mut self, limit: IpcLimit, text: &[u8]) -> Result<(), Errno> {
        let text = std::str::from_utf8(text).map_err(|_| Errno::EINVAL)?;
        let mut numbers = text.split_whitespace();
        let mut next_u64 = || -> Result<u64, Errno> {
            numbers
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(Errno::EINVAL)
        };
        let int = |v: u64| u32::try_from(v).ok().filter(|&v| v <= i32::MAX as u32);
        match limit {
            IpcLimit::Shmmax => self.shmmax = next_u64()?,
            IpcLimit::Shmall => self.shmall = next_u64()?,
            IpcLimit::Shmmni => self.shmmni = next_u64()?.min(SEQ_MULTIPLIER as u64),
            IpcLimit::Sem => {
                let mut sem = [0u32; 4];
                for value in &mut sem {
                    *value = int(next_u64()?).ok_or(Errno::EINVAL)?;
                }
                self.sem = sem;
            }
            IpcLimit::Msgmax => self.msgmax = int(next_u64()?).ok_or(Errno::EINVAL)?,
            IpcLimit::Msgmnb => self.msgmnb = int(next_u64()?).ok_or(Errno::EINVAL)?,
            IpcLimit::Msgmni => self.msgmni = int(next_u64()?).ok_or(Errno::EINVAL)?,
            IpcLimit::MqMsgMax => self.mq_msg_max = mq_limit(next_u64()?, 1, 65536)?,
            IpcLimit::MqMsgsizeMax => {
                self.mq_msgsize_max = mq_limit(next_u64()?, 128, 16 * 1024 * 1024)?;
            }
            IpcLimit::MqQueuesMax => self.mq_queues_max = int(next_u64()?).ok_or(Errno::EINVAL)?,
        }
        Ok(())
    }
}

/// An mqueue limit within Linux's bounds (HARD_MSGMAX, HARD_MSGSIZEMAX).
fn mq_limit(value: u64, min: u32, max: u32) -> Result<u32, Errno> {
    u32::try_from(value)
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or(Errno::EINVAL)
}

/// The wall-clock time in seconds, for the objects' change and operation times.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The wall-clock time, for the mqueue filesystem's timestamps.
pub(crate) fn now_timespec() -> abi::Timespec {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    abi::Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(since.subsec_nanos()),
    }
}

/// The System V families, as /proc/sysvipc lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum IpcFamily {
    Shm,
    Sem,
    Msg,
}

impl IpcFamily {
    pub(crate) const ALL: [IpcFamily; 3] = [IpcFamily::Shm, IpcFamily::Sem, IpcFamily::Msg];

    pub(crate) fn name(self) -> &'static str {
        match self {
            IpcFamily::Shm => "shm",
            IpcFamily::Sem => "sem",
            IpcFamily::Msg => "msg",
        }
    }
}

/// The sandbox's one IPC namespace.
#[derive(Default)]
pub(crate) struct IpcNamespace {
    pub(crate) limits: Mutex<IpcLimits>,
    pub(crate) shm: Mutex<Registry<shm::Segment>>,
    pub(crate) sem: sem::Semaphores,
    pub(crate) msg: Mutex<Registry<msg::MessageQueue>>,
    pub(crate) mqueue: std::sync::Arc<mqueue::MqueueFs>,
}

impl IpcNamespace {
    /// A process ended: its semaphore adjustments (SEM_UNDO) are applied and its message queue
    /// notifications dropped.
    pub(crate) fn process_exited(&self, tgid: i32) {
        self.sem.process_exited(tgid);
        self.mqueue.process_exited(tgid);
    }

    /// /proc/sysvipc/{shm,sem,msg}: a header and one line per object, in Linux's columns.
    pub(crate) fn sysvipc(&self, family: IpcFamily) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        match family {
            IpcFamily::Shm => {
                text.push_str(
                    "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
                );
                let mut segments = self.shm.lock();
                segments.retain(shm::Segment::alive);
                for (id, s) in segments.iter() {
                    let (p, d) = (s.perm(), s.stat());
                    let _ = writeln!(
                        text,
                        "{:>10} {:>10}  {:>4o} {:>21} {:>5} {:>5}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10} {:>21} {:>21}",
                        p.key, id, p.mode, d.segsz, d.cpid, d.lpid, d.nattch, p.uid, p.gid,
                        p.cuid, p.cgid, d.atime, d.dtime, d.ctime, d.segsz, 0
                    );
                }
            }
            IpcFamily::Sem => {
                text.push_str(
                    "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
                );
                for (id, s) in self.sem.sets.lock().iter() {
                    let (p, d) = (s.perm(), s.stat());
                    let _ = writeln!(
                        text,
                        "{:>10} {:>10}  {:>4o} {:>10} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10}",
                        p.key, id, p.mode, d.nsems, p.uid, p.gid, p.cuid, p.cgid, d.otime, d.ctime
                    );
                }
            }
            IpcFamily::Msg => {
                text.push_str(
                    "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
                );
                for (id, q) in self.msg.lock().iter() {
                    let (p, d) = (q.perm(), q.stat());
                    let _ = writeln!(
                        text,
                        "{:>10} {:>10}  {:>4o}  {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10}",
                        p.key, id, p.mode, d.cbytes, d.qnum, d.lspid, d.lrpid, p.uid, p.gid,
                        p.cuid, p.cgid, d.stime, d.rtime, d.ctime
                    );
                }
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing(IpcPerm);
    impl IpcObject for Thing {
        fn perm(&self) -> &IpcPerm {
            &self.0
        }
        fn perm_mut(&mut self) -> &mut IpcPerm {
            &mut self.0
        }
    }

    fn user(uid: u32) -> Credentials {
        let mut creds = Credentials::root();
        creds.euid = uid;
        creds.egid = uid;
        creds.fsgid = uid;
        if uid != 0 {
            creds.caps = crate::task::Capabilities::default();
        }
        creds
    }

    fn create(reg: &mut Registry<Thing>, key: i32, flags: i32, creds: &Credentials) -> i32 {
        match reg
            .get_or_create(key, flags, creds, |_| Ok(()))
            .expect("get")
        {
            Lookup::Existing(id) => id,
            Lookup::Create(perm) => reg.insert(Thing(perm), 100).expect("insert"),
        }
    }

    #[test]
    fn keys_ids_and_sequence_numbers() {
        let root = user(0);
        let mut reg = Registry::default();
        let a = create(&mut reg, 5, IPC_CREAT | 0o600, &root);
        assert_eq!(create(&mut reg, 5, 0, &root), a);
        assert!(matches!(
            reg.get_or_create(5, IPC_CREAT | IPC_EXCL, &root, |_| Ok(())),
            Err(Errno::EEXIST)
        ));
        assert!(matches!(
            reg.get_or_create(6, 0, &root, |_| Ok(())),
            Err(Errno::ENOENT)
        ));
        let b = create(&mut reg, IPC_PRIVATE, 0o600, &root);
        assert_ne!(a, b);
        reg.remove(a);
        assert!(reg.get(a).is_err());
        // The freed slot comes back with a new sequence number: the old id stays invalid.
        let c = create(&mut reg, IPC_PRIVATE, 0o600, &root);
        assert_eq!(c % SEQ_MULTIPLIER, a % SEQ_MULTIPLIER);
        assert_ne!(c, a);
        assert!(reg.get(a).is_err());
        assert!(reg.get(c).is_ok());
        assert_eq!(reg.get(-1).err(), Some(Errno::EINVAL));
    }

    #[test]
    fn permissions_follow_owner_group_other() {
        let mut perm = IpcPerm::new(1, 0o640, &user(1000));
        assert!(perm.check(&user(1000), MAY_READ | MAY_WRITE).is_ok());
        assert_eq!(perm.check(&user(1001), MAY_READ), Err(Errno::EACCES));
        assert!(perm.check(&user(0), MAY_READ | MAY_WRITE).is_ok());
        let mut member = user(1001);
        member.groups.push(1000);
        assert!(perm.check(&member, MAY_READ).is_ok());
        assert_eq!(perm.check(&member, MAY_WRITE), Err(Errno::EACCES));
        assert_eq!(perm.check_owner(&user(1001)), Err(Errno::EPERM));
        perm.set(&IpcPermRaw {
            uid: 1001,
            mode: 0o7600,
            ..IpcPermRaw::default()
        });
        assert_eq!(perm.mode, 0o600);
        assert!(perm.check_owner(&user(1001)).is_ok());
        assert!(perm.check_owner(&user(1000)).is_ok());
    }

    #[test]
    fn limits_render_and_parse() {
        let mut limits = IpcLimits::default();
        assert_eq!(
            limits.render(IpcLimit::Sem),
            "32000\t1024000000\t500\t32000\n"
        );
        limits
            .write(IpcLimit::Sem, b"250 32000 32 128\n")
            .expect("sem");
        assert_eq!(limits.sem, [250, 32000, 32, 128]);
        assert_eq!(limits.write(IpcLimit::Sem, b"1 2"), Err(Errno::EINVAL));
        assert_eq!(limits.write(IpcLimit::MqMsgMax, b"0"), Err(Errno::EINVAL));
        limits.write(IpcLimit::Msgmax, b"100").expect("msgmax");
        assert_eq!(limits.render(IpcLimit::Msgmax), "100\n");
    }
}
