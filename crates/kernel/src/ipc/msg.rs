//! System V message queues.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use abi::Errno;
use waiter::{events, WaitQueue};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{IpcObject, IpcPerm, IpcPermRaw};

/// msgrcv flags.
pub(crate) const MSG_NOERROR: i32 = 0o10000;
pub(crate) const MSG_EXCEPT: i32 = 0o20000;
pub(crate) const MSG_COPY: i32 = 0o40000;

/// `struct msqid64_ds` on amd64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct MsqidDs {
    pub(crate) perm: IpcPermRaw,
    pub(crate) stime: i64,
    pub(crate) rtime: i64,
    pub(crate) ctime: i64,
    pub(crate) cbytes: u64,
    pub(crate) qnum: u64,
    pub(crate) qbytes: u64,
    pub(crate) lspid: i32,
    pub(crate) lrpid: i32,
    unused: [u64; 2],
}

/// What blocked senders and receivers wait on; outlives the queue's removal so they learn of
/// it (EIDRM).
#[derive(Default)]
pub(crate) struct QueueEvents {
    pub(crate) queue: WaitQueue,
    removed: AtomicBool,
}

impl QueueEvents {
    pub(crate) fn removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }
}

struct Message {
    mtype: i64,
    text: Vec<u8>,
}

/// One message queue.
pub(crate) struct MessageQueue {
    perm: IpcPerm,
    messages: VecDeque<Message>,
    /// Bytes of message text queued, and the most allowed.
    cbytes: u64,
    qbytes: u64,
    stime: i64,
    rtime: i64,
    ctime: i64,
    lspid: i32,
    lrpid: i32,
    pub(crate) events: Arc<QueueEvents>,
}

impl IpcObject for MessageQueue {
    fn perm(&self) -> &IpcPerm {
        &self.perm
    }
    fn perm_mut(&mut self) -> &mut IpcPerm {
        &mut self.perm
    }
}

/// Which message msgrcv takes.
#[derive(Clone, Copy)]
pub(crate) struct Selector {
    pub(crate) msgtyp: i64,
    pub(crate) except: bool,
}

impl Selector {
    /// The index of the message to take: the first (msgtyp 0), the first of that type (or of
    /// another, MSG_EXCEPT), or the first of the lowest type up to -msgtyp.
    fn pick(self, messages: &VecDeque<Message>) -> Option<usize> {
        match self.msgtyp {
            0 => (!messages.is_empty()).then_some(0),
            t if t > 0 => messages.iter().position(|m| (m.mtype == t) != self.except),
            t => {
                let bound = t.checked_neg().unwrap_or(i64::MAX);
                messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.mtype <= bound)
                    .min_by_key(|&(i, m)| (m.mtype, i))
                    .map(|(i, _)| i)
            }
        }
    }
}

impl MessageQueue {
    pub(crate) fn new(perm: IpcPerm, qbytes: u32, now: i64) -> MessageQueue {
        MessageQueue {
            perm,
            messages: VecDeque::new(),
            cbytes: 0,
            qbytes: u64::from(qbytes),
            stime: 0,
            rtime: 0,
            ctime: now,
            lspid: 0,
            lrpid: 0,
            events: Arc::default(),
        }
    }

    /// Queues a message if it fits (Linux's `msg_fits_inqueue`), else EAGAIN.
    pub(crate) fn send(
        &mut self,
        mtype: i64,
        text: Vec<u8>,
        pid: i32,
        now: i64,
    ) -> Result<(), Errno> {
        let len = text.len() as u64;
        if self.cbytes + len > self.qbytes || self.messages.len() as u64 + 1 > self.qbytes {
            return Err(Errno::EAGAIN);
        }
        self.cbytes += len;
        self.messages.push_back(Message { mtype, text });
        self.lspid = pid;
        self.stime = now;
        self.events.queue.notify(events::READABLE);
        Ok(())
    }

    /// Takes the message `selector` picks (ENOMSG if none; E2BIG if longer than `max` without
    /// MSG_NOERROR, the message staying queued). Returns its type and text, cut to `max`.
    pub(crate) fn receive(
        &mut self,
        selector: Selector,
        max: usize,
        noerror: bool,
        pid: i32,
        now: i64,
    ) -> Result<(i64, Vec<u8>), Errno> {
        let index = selector.pick(&self.messages).ok_or(Errno::ENOMSG)?;
        if self.messages[index].text.len() > max && !noerror {
            return Err(Errno::E2BIG);
        }
        let Message { mtype, mut text } = self.messages.remove(index).ok_or(Errno::ENOMSG)?;
        self.cbytes -= text.len() as u64;
        text.truncate(max);
        self.lrpid = pid;
        self.rtime = now;
        self.events.queue.notify(events::WRITABLE);
        Ok((mtype, text))
    }

    pub(crate) fn stat(&self) -> MsqidDs {
        MsqidDs {
            perm: self.perm.raw(),
            stime: self.stime,
            rtime: self.rtime,
            ctime: self.ctime,
            cbytes: self.cbytes,
            qnum: self.messages.len() as u64,
            qbytes: self.qbytes,
            lspid: self.lspid,
            lrpid: self.lrpid,
            ..MsqidDs::default()
        }
    }

    /// IPC_SET: owner, mode and the byte limit (raising it past `msgmnb` needs
    /// CAP_SYS_RESOURCE, `may_exceed`).
    pub(crate) fn set(
        &mut self,
        ds: &MsqidDs,
        msgmnb: u32,
        may_exceed: bool,
        now: i64,
    ) -> Result<(), Errno> {
        if ds.qbytes > u64::from(msgmnb) && !may_exceed {
            return Err(Errno::EPERM);
        }
        self.perm.set(&ds.perm);
        self.qbytes = ds.qbytes;
        self.ctime = now;
        // A larger limit may let blocked senders in.
        self.events.queue.notify(events::WRITABLE);
        Ok(())
    }

    /// Messages and bytes queued (MSG_INFO).
    pub(crate) fn usage(&self) -> (usize, u64) {
        (self.messages.len(), self.cbytes)
    }

    /// IPC_RMID: waiters learn the queue is gone.
    pub(crate) fn destroy(&self) {
        self.events.removed.store(true, Ordering::Release);
        self.events
            .queue
            .notify(events::READABLE | events::WRITABLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Credentials;

    fn queue() -> MessageQueue {
        let perm = IpcPerm::new(0, 0o600, &Credentials::root());
        MessageQueue::new(perm, 16, 0)
    }

    fn receive(q: &mut MessageQueue, msgtyp: i64, except: bool) -> Result<i64, Errno> {
        q.receive(Selector { msgtyp, except }, 100, false, 1, 0)
            .map(|(t, _)| t)
    }

    #[test]
    fn types_select_messages() {
        let mut q = queue();
        for t in [3, 1, 2, 1] {
            q.send(t, vec![0], 1, 0).expect("send");
        }
        assert_eq!(receive(&mut q, 2, false), Ok(2));
        assert_eq!(receive(&mut q, 1, true), Ok(3));
        assert_eq!(receive(&mut q, -5, false), Ok(1));
        assert_eq!(receive(&mut q, 2, false), Err(Errno::ENOMSG));
        assert_eq!(receive(&mut q, 0, false), Ok(1));
        assert_eq!(receive(&mut q, 0, false), Err(Errno::ENOMSG));
    }

    #[test]
    fn limits_and_truncation() {
        let mut q = queue();
        q.send(1, vec![7; 10], 1, 0).expect("send");
        assert_eq!(q.send(1, vec![7; 10], 1, 0), Err(Errno::EAGAIN));
        let sel = Selector {
            msgtyp: 0,
            except: false,
        };
        assert_eq!(q.receive(sel, 4, false, 1, 0), Err(Errno::E2BIG));
        assert_eq!(q.receive(sel, 4, true, 1, 0), Ok((1, vec![7; 4])));
        assert_eq!(q.stat().cbytes, 0);
        assert_eq!(receive(&mut q, i64::MIN, false), Err(Errno::ENOMSG));
    }
}
