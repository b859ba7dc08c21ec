//! One AF_UNIX socket's state and the operations between sockets: bind, listen, connect,
//! accept, send, receive, shutdown, close.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use abi::Errno;
use parking_lot::{Mutex, MutexGuard};
use waiter::{events, Notify, OwnedRegistration, WaitQueue};

use super::names::Namespace;
use super::options::Options;
use super::queue::{Message, Queue};
use super::{Received, SendMessage, SocketType, Ucred, UnixAddress};
use crate::block::{block_on, Blocker};

/// Most listen(2) backlogs (net.core.somaxconn).
const SOMAXCONN: usize = 4096;
/// net.unix.max_dgram_qlen: datagrams a socket queues from senders other than its peer.
const MAX_DGRAM_QLEN: usize = 10;
/// Bytes of a datagram's allowance that are bookkeeping (a datagram larger than SO_SNDBUF
/// minus this is EMSGSIZE).
const DGRAM_OVERHEAD: usize = 32;

/// Inode numbers of sockets (sockfs), for fstat.
static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// A connected stream or seqpacket socket's side of the connection.
struct Link {
    peer: Weak<Endpoint>,
    /// The peer's address when the connection was made (getpeername).
    peer_address: UnixAddress,
    recv: Arc<Queue>,
    send: Arc<Queue>,
}

/// A datagram socket's connected peer, and the forwarding that tells this socket when the
/// peer's receive queue has room (Linux's peer_wake).
struct DgramPeer {
    endpoint: Weak<Endpoint>,
    _room: OwnedRegistration,
}

enum Role {
    Unconnected,
    /// connect in progress (possibly asleep on a full backlog).
    Connecting,
    Listening {
        backlog: usize,
        /// Connections made but not yet accepted: their server-side sockets.
        pending: VecDeque<Arc<Endpoint>>,
    },
    Connected(Link),
    Datagram {
        recv: Arc<Queue>,
        peer: Option<DgramPeer>,
    },
}

struct State {
    address: UnixAddress,
    role: Role,
    /// shutdown(2) of this socket itself.
    shut_read: bool,
    shut_write: bool,
    /// SO_ERROR: reported once (ECONNRESET when the peer closed on unread data).
    error: Option<Errno>,
    /// SO_PEERCRED.
    peer_cred: Option<Ucred>,
    options: Options,
}

pub(crate) struct Endpoint {
    pub(crate) ty: SocketType,
    pub(crate) ino: u64,
    /// Readiness changes of this socket.
    pub(crate) events: Arc<WaitQueue>,
    /// The creator: the sender of what write(2) sends, which has no task at hand.
    pub(crate) owner: Ucred,
    /// Outside `state`, so name lookups can test it without taking a socket's lock.
    closed: AtomicBool,
    state: Mutex<State>,
}

/// Passes notifications of one wait queue on to another.
struct Forward(Arc<WaitQueue>);

impl Notify for Forward {
    fn notify(&self, events: u32) {
        self.0.notify(events);
    }
}

impl Endpoint {
    pub(crate) fn new(ty: SocketType, owner: Ucred) -> Arc<Endpoint> {
        let events = Arc::new(WaitQueue::new());
        let role = match ty {
            SocketType::Datagram => Role::Datagram {
                recv: Queue::new(Arc::clone(&events), Arc::new(WaitQueue::new())),
                peer: None,
            },
            SocketType::Stream | SocketType::SeqPacket => Role::Unconnected,
        };
        Arc::new(Endpoint {
            ty,
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            events,
            owner,
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                address: UnixAddress::Unnamed,
                role,
                shut_read: false,
                shut_write: false,
                error: None,
                peer_cred: None,
                options: Options::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Two sockets connected to each other (socketpair).
    pub(crate) fn pair(ty: SocketType, owner: Ucred) -> (Arc<Endpoint>, Arc<Endpoint>) {
        let a = Endpoint::new(ty, owner);
        let b = Endpoint::new(ty, owner);
        match ty {
            SocketType::Datagram => {
                a.lock().role = Self::datagram_role(&a, Some(&b));
                b.lock().role = Self::datagram_role(&b, Some(&a));
            }
            SocketType::Stream | SocketType::SeqPacket => {
                let a_to_b = Queue::new(Arc::clone(&b.events), Arc::clone(&a.events));
                let b_to_a = Queue::new(Arc::clone(&a.events), Arc::clone(&b.events));
                a.lock().role = Role::Connected(Link {
                    peer: Arc::downgrade(&b),
                    peer_address: UnixAddress::Unnamed,
                    recv: Arc::clone(&b_to_a),
                    send: Arc::clone(&a_to_b),
                });
                b.lock().role = Role::Connected(Link {
                    peer: Arc::downgrade(&a),
                    peer_address: UnixAddress::Unnamed,
                    recv: a_to_b,
                    send: b_to_a,
                });
            }
        }
        a.lock().peer_cred = Some(owner);
        b.lock().peer_cred = Some(owner);
        (a, b)
    }

    /// A datagram socket's role with its own receive queue and `peer`, reusing the queue it
    /// has.
    fn datagram_role(this: &Arc<Endpoint>, peer: Option<&Arc<Endpoint>>) -> Role {
        let recv = match &this.lock().role {
            Role::Datagram { recv, .. } => Arc::clone(recv),
            _ => Queue::new(Arc::clone(&this.events), Arc::new(WaitQueue::new())),
        };
        let peer = peer.and_then(|peer| {
            let room = peer.dgram_queue()?.writer.clone();
            Some(DgramPeer {
                endpoint: Arc::downgrade(peer),
                _room: WaitQueue::register_owned(
                    &room,
                    Arc::new(Forward(Arc::clone(&this.events))),
                    events::WRITABLE,
                ),
            })
        });
        Role::Datagram { recv, peer }
    }

    fn dgram_queue(&self) -> Option<Arc<Queue>> {
        match &self.lock().role {
            Role::Datagram { recv, .. } => Some(Arc::clone(recv)),
            _ => None,
        }
    }

    pub(crate) fn address(&self) -> UnixAddress {
        self.lock().address.clone()
    }

    pub(crate) fn peer_address(&self) -> Result<UnixAddress, Errno> {
        match &self.lock().role {
            Role::Connected(link) => Ok(link.peer_address.clone()),
            Role::Datagram {
                peer: Some(peer), ..
            } => peer
                .endpoint
                .upgrade()
                .map(|peer| peer.address())
                .ok_or(Errno::ENOTCONN),
            _ => Err(Errno::ENOTCONN),
        }
    }

    pub(crate) fn bind(
        self: &Arc<Self>,
        ns: &Namespace,
        address: &UnixAddress,
    ) -> Result<(), Errno> {
        let mut state = self.lock();
        if state.address != UnixAddress::Unnamed {
            return Err(Errno::EINVAL);
        }
        state.address = ns.bind(address, self)?;
        Ok(())
    }

    pub(crate) fn listen(&self, backlog: i32, creds: Ucred) -> Result<(), Errno> {
        if self.ty == SocketType::Datagram {
            return Err(Errno::EOPNOTSUPP);
        }
        // A negative backlog is a huge unsigned one to Linux: the maximum.
        let backlog = usize::try_from(backlog).unwrap_or(SOMAXCONN).min(SOMAXCONN);
        let mut state = self.lock();
        if state.address == UnixAddress::Unnamed {
            return Err(Errno::EINVAL);
        }
        match &mut state.role {
            Role::Unconnected => {
                state.role = Role::Listening {
                    backlog,
                    pending: VecDeque::new(),
                };
            }
            Role::Listening { backlog: b, .. } => *b = backlog,
            _ => return Err(Errno::EINVAL),
        }
        state.peer_cred = Some(creds);
        drop(state);
        self.events.notify(events::WRITABLE);
        Ok(())
    }

    /// connect(2); `None` is AF_UNSPEC, which dissolves a datagram socket's association.
    pub(crate) fn connect(
        self: &Arc<Self>,
        ns: &Namespace,
        address: Option<&UnixAddress>,
        creds: Ucred,
        blocker: &mut dyn Blocker,
    ) -> Result<(), Errno> {
        if self.ty == SocketType::Datagram {
            let peer = address.map(|a| self.resolve_peer(ns, a)).transpose()?;
            let role = Self::datagram_role(self, peer.as_ref());
            self.lock().role = role;
            self.events.notify(events::WRITABLE);
            return Ok(());
        }
        let address = address.ok_or(Errno::EINVAL)?;
        {
            let mut state = self.lock();
            match state.role {
                Role::Unconnected => state.role = Role::Connecting,
                Role::Connected(_) => return Err(Errno::EISCONN),
                Role::Connecting => return Err(Errno::EALREADY),
                Role::Listening { .. } | Role::Datagram { .. } => return Err(Errno::EINVAL),
            }
        }
        let made = self.resolve_peer(ns, address).and_then(|listener| {
            block_on(blocker, &listener.events, events::WRITABLE, || {
                listener.enqueue_connection(self, creds)
            })
        });
        let mut state = self.lock();
        match made {
            Ok((link, listener_cred)) => {
                state.role = Role::Connected(link);
                state.peer_cred = Some(listener_cred);
                Ok(())
            }
            Err(e) => {
                state.role = Role::Unconnected;
                Err(e)
            }
        }
    }

    /// The live socket of our type at `address`.
    fn resolve_peer(&self, ns: &Namespace, address: &UnixAddress) -> Result<Arc<Endpoint>, Errno> {
        ns.resolve(self.ty, address)
    }

    /// A connection from `client` to this listener: its server-side socket joins the pending
    /// ones. Returns the client's side and the listener's credentials. EAGAIN while the
    /// backlog is full, ECONNREFUSED if this socket doesn't listen.
    fn enqueue_connection(
        self: &Arc<Self>,
        client: &Arc<Endpoint>,
        creds: Ucred,
    ) -> Result<(Link, Ucred), Errno> {
        let mut state = self.lock();
        let listener_cred = state.peer_cred.unwrap_or(self.owner);
        let listener_address = state.address.clone();
        let options = state.options.clone();
        let Role::Listening { backlog, pending } = &mut state.role else {
            return Err(Errno::ECONNREFUSED);
        };
        if self.is_closed() {
            return Err(Errno::ECONNREFUSED);
        }
        if pending.len() > *backlog {
            return Err(Errno::EAGAIN);
        }
        let server = Endpoint::new(self.ty, self.owner);
        let to_server = Queue::new(Arc::clone(&server.events), Arc::clone(&client.events));
        let to_client = Queue::new(Arc::clone(&client.events), Arc::clone(&server.events));
        {
            let mut server_state = server.lock();
            server_state.address = listener_address.clone();
            server_state.peer_cred = Some(creds);
            server_state.options = options;
            server_state.role = Role::Connected(Link {
                peer: Arc::downgrade(client),
                peer_address: client.address(),
                recv: Arc::clone(&to_server),
                send: Arc::clone(&to_client),
            });
        }
        let client_link = Link {
            peer: Arc::downgrade(&server),
            peer_address: listener_address,
            recv: to_client,
            send: to_server,
        };
        pending.push_back(server);
        drop(state);
        self.events.notify(events::READABLE);
        Ok((client_link, listener_cred))
    }

    pub(crate) fn accept(&self, blocker: &mut dyn Blocker) -> Result<Arc<Endpoint>, Errno> {
        if self.ty == SocketType::Datagram {
            return Err(Errno::EOPNOTSUPP);
        }
        let server = block_on(blocker, &self.events, events::READABLE, || match &mut self
            .lock()
            .role
        {
            Role::Listening { pending, .. } => pending.pop_front().ok_or(Errno::EAGAIN),
            _ => Err(Errno::EINVAL),
        })?;
        // Room in the backlog for a connect that waits.
        self.events.notify(events::WRITABLE);
        Ok(server)
    }

    pub(crate) fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let (read, write) = match how {
            libc::SHUT_RD => (true, false),
            libc::SHUT_WR => (false, true),
            libc::SHUT_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        let mut state = self.lock();
        state.shut_read |= read;
        state.shut_write |= write;
        let link = match &state.role {
            Role::Connected(link) => Some((Arc::clone(&link.recv), Arc::clone(&link.send))),
            _ => None,
        };
        drop(state);
        // The peer of a connection learns of it: no more to write, or nothing more coming.
        if let Some((recv, send)) = link {
            if read {
                recv.shut_reader();
            }
            if write {
                send.close_writer();
            }
        }
        self.notify_all();
        Ok(())
    }

    fn notify_all(&self) {
        self.events
            .notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLRDHUP);
    }

    /// The socket's last file closed. `reset` (an unaccepted connection going away) gives the
    /// peer ECONNRESET, as does unread data left behind.
    pub(crate) fn close(&self, reset: bool) {
        self.closed.store(true, Ordering::Release);
        let role = std::mem::replace(&mut self.lock().role, Role::Unconnected);
        match role {
            Role::Listening { pending, .. } => {
                for server in pending {
                    server.close(true);
                }
            }
            Role::Connected(link) => {
                link.send.close_writer();
                let unread = link.recv.close_reader();
                if unread || reset {
                    if let Some(peer) = link.peer.upgrade() {
                        peer.lock().error = Some(Errno::ECONNRESET);
                        peer.notify_all();
                    }
                }
            }
            Role::Datagram { recv, peer } => {
                recv.close_reader();
                drop(peer);
            }
            Role::Unconnected | Role::Connecting => {}
        }
        self.notify_all();
    }

    fn take_error(&self) -> Option<Errno> {
        self.lock().error.take()
    }

    pub(crate) fn send(
        &self,
        ns: Option<&Namespace>,
        message: SendMessage<'_>,
        blocker: &mut dyn Blocker,
    ) -> Result<usize, Errno> {
        match self.ty {
            SocketType::Stream => self.send_stream(message, blocker),
            SocketType::SeqPacket => self.send_seqpacket(message, blocker),
            SocketType::Datagram => self.send_datagram(ns, message, blocker),
        }
    }

    /// The send queue and limit of a connection; ENOTCONN without one, EPIPE after shutdown.
    fn connection_send(&self) -> Result<(Arc<Queue>, usize), Errno> {
        let state = self.lock();
        let Role::Connected(link) = &state.role else {
            return Err(Errno::ENOTCONN);
        };
        if state.shut_write {
            return Err(Errno::EPIPE);
        }
        Ok((Arc::clone(&link.send), state.options.sndbuf))
    }

    fn send_stream(
        &self,
        message: SendMessage<'_>,
        blocker: &mut dyn Blocker,
    ) -> Result<usize, Errno> {
        if message.to.is_some() {
            return Err(match self.lock().role {
                Role::Connected(_) => Errno::EISCONN,
                _ => Errno::EOPNOTSUPP,
            });
        }
        let (queue, limit) = self.connection_send()?;
        let mut rights = message.rights;
        let mut sent = 0;
        while sent < message.data.len() {
            let step = block_on(blocker, &self.events, events::WRITABLE, || {
                if self.lock().shut_write {
                    return Err(Errno::EPIPE);
                }
                queue.push_stream(&message.data[sent..], &mut rights, message.creds, limit)
            });
            match step {
                Ok(n) => sent += n,
                Err(_) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    fn new_message(&self, message: SendMessage<'_>) -> Message {
        Message {
            data: message.data.to_vec(),
            read: 0,
            rights: message.rights,
            creds: message.creds,
            from: self.address(),
        }
    }

    fn send_seqpacket(
        &self,
        message: SendMessage<'_>,
        blocker: &mut dyn Blocker,
    ) -> Result<usize, Errno> {
        // A seqpacket socket sends to its peer whatever address is given, as Linux.
        let (queue, limit) = self.connection_send()?;
        let len = message.data.len();
        if len > limit.saturating_sub(DGRAM_OVERHEAD) {
            return Err(Errno::EMSGSIZE);
        }
        let mut pending = Some(self.new_message(message));
        block_on(blocker, &self.events, events::WRITABLE, || {
            let Some(message) = pending.take() else {
                return Err(Errno::EPIPE);
            };
            queue
                .push_message(message, limit, None)
                .map_err(|(e, message)| {
                    pending = Some(message);
                    e
                })
        })?;
        Ok(len)
    }

    fn send_datagram(
        &self,
        ns: Option<&Namespace>,
        message: SendMessage<'_>,
        blocker: &mut dyn Blocker,
    ) -> Result<usize, Errno> {
        let (limit, shut_write, connected) = {
            let state = self.lock();
            let connected = match &state.role {
                Role::Datagram { peer, .. } => peer.as_ref().map(|p| p.endpoint.clone()),
                _ => None,
            };
            (state.options.sndbuf, state.shut_write, connected)
        };
        let target = match &message.to {
            Some(address) => self.resolve_peer(ns.ok_or(Errno::EINVAL)?, address)?,
            None => connected
                .ok_or(Errno::ENOTCONN)?
                .upgrade()
                .filter(|peer| !peer.is_closed())
                .ok_or(Errno::ECONNREFUSED)?,
        };
        if shut_write {
            return Err(Errno::EPIPE);
        }
        let len = message.data.len();
        if len > limit.saturating_sub(DGRAM_OVERHEAD) {
            return Err(Errno::EMSGSIZE);
        }
        // A socket connected elsewhere takes datagrams from its peer only.
        let target_peer = match &target.lock().role {
            Role::Datagram { peer, .. } => peer.as_ref().map(|p| p.endpoint.clone()),
            _ => None,
        };
        let from_peer = match &target_peer {
            Some(peer) => std::ptr::eq(peer.as_ptr(), self),
            None => false,
        };
        if target_peer.is_some() && !from_peer {
            return Err(Errno::EPERM);
        }
        let queue = target.dgram_queue().ok_or(Errno::ECONNREFUSED)?;
        let max_messages = (!from_peer).then_some(MAX_DGRAM_QLEN);
        let mut pending = Some(self.new_message(message));
        block_on(blocker, &queue.writer, events::WRITABLE, || {
            let Some(message) = pending.take() else {
                return Err(Errno::ECONNREFUSED);
            };
            queue
                .push_message(message, limit, max_messages)
                .map_err(|(e, message)| {
                    pending = Some(message);
                    if e == Errno::EPIPE {
                        Errno::ECONNREFUSED
                    } else {
                        e
                    }
                })
        })?;
        Ok(len)
    }

    /// The queue this socket receives on, whether reading is over for it (its own SHUT_RD),
    /// and whether SO_PASSCRED is on.
    fn receive_side(&self) -> Result<(Arc<Queue>, bool, bool), Errno> {
        let state = self.lock();
        let queue = match (&state.role, self.ty) {
            (Role::Connected(link), _) => Arc::clone(&link.recv),
            (Role::Datagram { recv, .. }, _) => Arc::clone(recv),
            (_, SocketType::SeqPacket) => return Err(Errno::ENOTCONN),
            _ => return Err(Errno::EINVAL),
        };
        Ok((queue, state.shut_read, state.options.passcred))
    }

    /// What a read finds on an empty queue: a pending error, EOF, or nothing yet (EAGAIN).
    fn empty_read(&self, shut: bool) -> Result<Received, Errno> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if shut {
            return Ok(Received::default());
        }
        Err(Errno::EAGAIN)
    }

    pub(crate) fn recv(
        &self,
        want: usize,
        flags: RecvFlags,
        blocker: &mut dyn Blocker,
    ) -> Result<Received, Errno> {
        if self.ty != SocketType::Stream {
            return block_on(blocker, &self.events, events::READABLE, || {
                self.recv_message(want, flags.peek)
            });
        }
        let mut got = Received::default();
        loop {
            let step = block_on(blocker, &self.events, events::READABLE, || {
                self.recv_stream(want - got.data.len(), flags.peek)
            });
            let part = match step {
                Ok(part) => part,
                Err(_) if !got.data.is_empty() => return Ok(got),
                Err(e) => return Err(e),
            };
            let eof = part.data.is_empty();
            got.merge(part);
            got.len = got.data.len();
            let more = flags.waitall && !flags.peek && got.rights.is_empty();
            if eof || !more || got.data.len() >= want {
                return Ok(got);
            }
        }
    }

    /// One read of a stream: bytes up to `want`, never across a message passing files (those
    /// come with the first byte of theirs), nor, with SO_PASSCRED, across different senders.
    fn recv_stream(&self, want: usize, peek: bool) -> Result<Received, Errno> {
        let (queue, shut, passcred) = self.receive_side()?;
        let mut state = queue.lock();
        if state.messages.is_empty() {
            let shut = shut || state.write_closed;
            drop(state);
            return self.empty_read(shut);
        }
        let mut out = Received::default();
        let mut first_creds = None;
        for message in state.messages.iter_mut() {
            if out.data.len() == want {
                break;
            }
            let creds_differ = passcred && first_creds.is_some_and(|c| c != message.creds);
            if !out.data.is_empty() && (!message.rights.is_empty() || creds_differ) {
                break;
            }
            first_creds.get_or_insert(message.creds);
            let n = (want - out.data.len()).min(message.unread().len());
            out.data.extend_from_slice(&message.unread()[..n]);
            let had_rights = !message.rights.is_empty();
            if had_rights {
                out.rights = if peek {
                    message.rights.clone()
                } else {
                    std::mem::take(&mut message.rights)
                };
            }
            if !peek {
                message.read += n;
            }
            if had_rights {
                break;
            }
        }
        if !peek {
            state.bytes -= out.data.len();
            while state
                .messages
                .front()
                .is_some_and(|m| m.unread().is_empty() && m.rights.is_empty())
            {
                state.messages.pop_front();
            }
        }
        drop(state);
        if !peek {
            queue.writer.notify(events::WRITABLE);
        }
        out.len = out.data.len();
        out.creds = first_creds.filter(|_| passcred);
        Ok(out)
    }

    /// One datagram or seqpacket: its first `want` bytes, `len` the whole size.
    fn recv_message(&self, want: usize, peek: bool) -> Result<Received, Errno> {
        let (queue, shut, passcred) = self.receive_side()?;
        let mut state = queue.lock();
        let Some(front) = state.messages.front() else {
            let shut = shut || state.write_closed;
            drop(state);
            return self.empty_read(shut);
        };
        let mut out = Received {
            len: front.data.len(),
            truncated: front.data.len() > want,
            creds: passcred.then_some(front.creds),
            from: front.from.clone(),
            ..Received::default()
        };
        let n = want.min(front.data.len());
        if peek {
            out.data = front.data[..n].to_vec();
            out.rights = front.rights.clone();
            return Ok(out);
        }
        let Some(mut message) = state.messages.pop_front() else {
            return Err(Errno::EAGAIN);
        };
        state.bytes -= message.data.len();
        drop(state);
        queue.writer.notify(events::WRITABLE);
        message.data.truncate(n);
        out.data = message.data;
        out.rights = std::mem::take(&mut message.rights);
        Ok(out)
    }

    /// FIONREAD: bytes a stream could read now, or the size of the next datagram.
    pub(crate) fn readable_bytes(&self) -> usize {
        let Ok((queue, _, _)) = self.receive_side() else {
            return 0;
        };
        let state = queue.lock();
        match self.ty {
            SocketType::Stream => state.bytes,
            _ => state.messages.front().map_or(0, |m| m.data.len()),
        }
    }

    pub(crate) fn readiness(&self, mask: u32) -> u32 {
        let state = self.lock();
        let mut ready = 0;
        if state.error.is_some() {
            ready |= events::POLLERR;
        }
        let (mut rd_shut, mut wr_shut) = (state.shut_read, state.shut_write);
        match &state.role {
            Role::Listening { pending, .. } => {
                if !pending.is_empty() {
                    ready |= events::READABLE;
                }
            }
            Role::Connected(link) => {
                let recv = link.recv.lock();
                if !recv.messages.is_empty() {
                    ready |= events::READABLE;
                }
                rd_shut |= recv.write_closed;
                drop(recv);
                let send = link.send.lock();
                wr_shut |= send.read_closed;
                if wr_shut || Queue::has_room(&send, 1, state.options.sndbuf) {
                    ready |= events::WRITABLE;
                }
            }
            Role::Datagram { recv, peer } => {
                if !recv.lock().messages.is_empty() {
                    ready |= events::READABLE;
                }
                let peer_full = peer
                    .as_ref()
                    .and_then(|p| p.endpoint.upgrade())
                    .and_then(|p| p.dgram_queue())
                    .is_some_and(|q| !Queue::has_room(&q.lock(), 1, state.options.sndbuf));
                if !peer_full {
                    ready |= events::WRITABLE;
                }
            }
            // An unconnected stream socket is "closed" to poll: hung up, yet writable.
            Role::Unconnected | Role::Connecting => {
                ready |= events::WRITABLE | events::POLLHUP;
            }
        }
        if rd_shut {
            ready |= events::READABLE | events::POLLRDHUP;
        }
        if rd_shut && wr_shut {
            ready |= events::POLLHUP;
        }
        ready & (mask | events::ALWAYS)
    }

    pub(crate) fn with_options<T>(&self, f: impl FnOnce(&mut Options) -> T) -> T {
        f(&mut self.lock().options)
    }

    pub(crate) fn take_socket_error(&self) -> Option<Errno> {
        self.take_error()
    }

    pub(crate) fn peer_cred(&self) -> Option<Ucred> {
        self.lock().peer_cred
    }

    pub(crate) fn is_listening(&self) -> bool {
        matches!(self.lock().role, Role::Listening { .. })
    }
}

/// recv flags net acts on (MSG_DONTWAIT is the blocker's business).
#[derive(Clone, Copy, Debug, Default)]
pub struct RecvFlags {
    pub peek: bool,
    pub waitall: bool,
}
