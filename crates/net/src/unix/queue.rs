//! A one-way queue of messages between sockets: a connected pair has one each way, a
//! datagram socket one it receives on.

use std::collections::VecDeque;
use std::sync::Arc;

use abi::Errno;
use parking_lot::{Mutex, MutexGuard};
use vfs::OpenFile;
use waiter::{events, WaitQueue};

use super::{Ucred, UnixAddress};

/// What one send put on a queue. A stream send may be read in parts; `read` counts what was.
pub(crate) struct Message {
    pub(crate) data: Vec<u8>,
    pub(crate) read: usize,
    /// SCM_RIGHTS: the open files in flight.
    pub(crate) rights: Vec<Arc<OpenFile>>,
    /// Who sent it (SCM_CREDENTIALS).
    pub(crate) creds: Ucred,
    pub(crate) from: UnixAddress,
}

impl Message {
    pub(crate) fn unread(&self) -> &[u8] {
        &self.data[self.read..]
    }
}

pub(crate) struct QueueState {
    pub(crate) messages: VecDeque<Message>,
    /// Unread bytes of all messages.
    pub(crate) bytes: usize,
    /// No more reads: the reader closed or shut down reading. Writers get EPIPE.
    pub(crate) read_closed: bool,
    /// No more writes: the writer closed or shut down writing. The reader sees EOF once empty.
    pub(crate) write_closed: bool,
}

pub(crate) struct Queue {
    state: Mutex<QueueState>,
    /// Told when messages arrive or the writer goes away.
    pub(crate) reader: Arc<WaitQueue>,
    /// Told when room frees up or the reader goes away.
    pub(crate) writer: Arc<WaitQueue>,
}

impl Queue {
    pub(crate) fn new(reader: Arc<WaitQueue>, writer: Arc<WaitQueue>) -> Arc<Queue> {
        Arc::new(Queue {
            state: Mutex::new(QueueState {
                messages: VecDeque::new(),
                bytes: 0,
                read_closed: false,
                write_closed: false,
            }),
            reader,
            writer,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock()
    }

    /// Whether another `len` bytes fit under `limit`. An empty queue takes any one message, so
    /// a message as large as the limit still goes through.
    pub(crate) fn has_room(state: &QueueState, len: usize, limit: usize) -> bool {
        state.messages.is_empty() || state.bytes.saturating_add(len) <= limit
    }

    /// Appends `message` whole (datagrams, seqpackets), handing it back with EPIPE once the
    /// reader is gone and EAGAIN without room (bytes under `limit`, messages under
    /// `max_messages`).
    pub(crate) fn push_message(
        &self,
        message: Message,
        limit: usize,
        max_messages: Option<usize>,
    ) -> Result<(), (Errno, Message)> {
        let mut state = self.lock();
        if state.read_closed {
            return Err((Errno::EPIPE, message));
        }
        let too_many = max_messages.is_some_and(|max| state.messages.len() > max);
        if too_many || !Self::has_room(&state, message.data.len(), limit) {
            return Err((Errno::EAGAIN, message));
        }
        state.bytes += message.data.len();
        state.messages.push_back(message);
        drop(state);
        self.reader.notify(events::READABLE);
        Ok(())
    }

    /// Appends as much of a stream send as fits under `limit`, the rights with its first byte;
    /// returns how many bytes went. EPIPE once the reader is gone, EAGAIN if nothing fits.
    pub(crate) fn push_stream(
        &self,
        data: &[u8],
        rights: &mut Vec<Arc<OpenFile>>,
        creds: Ucred,
        limit: usize,
    ) -> Result<usize, Errno> {
        let mut state = self.lock();
        if state.read_closed {
            return Err(Errno::EPIPE);
        }
        let room = limit.saturating_sub(state.bytes);
        if room == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = room.min(data.len());
        let chunk = &data[..n];
        let rights = std::mem::take(rights);
        // Plain bytes join the last message when nothing tells them apart, so many small
        // writes don't make many messages.
        match state.messages.back_mut() {
            Some(last) if rights.is_empty() && last.rights.is_empty() && last.creds == creds => {
                last.data.extend_from_slice(chunk);
            }
            _ => state.messages.push_back(Message {
                data: chunk.to_vec(),
                read: 0,
                rights,
                creds,
                from: UnixAddress::Unnamed,
            }),
        }
        state.bytes += n;
        drop(state);
        self.reader.notify(events::READABLE);
        Ok(n)
    }

    /// The reader is gone (close): writers get EPIPE, and what was in flight is dropped (files
    /// passed in it included).
    pub(crate) fn close_reader(&self) -> bool {
        let mut state = self.lock();
        state.read_closed = true;
        let had_data = !state.messages.is_empty();
        let dropped = std::mem::take(&mut state.messages);
        state.bytes = 0;
        drop(state);
        // Dropped outside the lock: a passed socket closing may reach this queue.
        drop(dropped);
        self.notify_all();
        had_data
    }

    /// SHUT_RD: writers get EPIPE; queued data stays readable.
    pub(crate) fn shut_reader(&self) {
        self.lock().read_closed = true;
        self.notify_all();
    }

    /// The writer closed or shut down writing: the reader gets EOF once the queue is empty.
    pub(crate) fn close_writer(&self) {
        self.lock().write_closed = true;
        self.notify_all();
    }

    pub(crate) fn notify_all(&self) {
        let all = events::READABLE
            | events::WRITABLE
            | events::POLLHUP
            | events::POLLERR
            | events::POLLRDHUP;
        self.reader.notify(all);
        self.writer.notify(all);
    }
}
