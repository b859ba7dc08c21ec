//! Behaviour of AF_UNIX sockets through their public operations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use vfs::{LookupCtx, OpenFile, Vfs};
use waiter::{events, Waiter};

use super::*;

const ME: Ucred = Ucred {
    pid: 7,
    uid: 1000,
    gid: 100,
};

/// Sleeps on a real waiter until a deadline, as a task would.
struct Sleeping {
    waiter: Arc<Waiter>,
    deadline: Instant,
}

impl Sleeping {
    fn new() -> Sleeping {
        Sleeping {
            waiter: Waiter::new(),
            deadline: Instant::now() + Duration::from_secs(10),
        }
    }
}

impl Blocker for Sleeping {
    fn may_block(&self) -> bool {
        true
    }
    fn waiter(&self) -> Arc<Waiter> {
        Arc::clone(&self.waiter)
    }
    fn sleep(&mut self) -> Result<(), Errno> {
        if self.waiter.sleep(Some(self.deadline)) {
            Ok(())
        } else {
            Err(Errno::EAGAIN)
        }
    }
}

fn sock(file: &OpenFile) -> &UnixSocket {
    UnixSocket::of(file).expect("a unix socket")
}

fn send(file: &OpenFile, data: &[u8]) -> Result<usize, Errno> {
    let message = SendMessage {
        data,
        rights: Vec::new(),
        creds: ME,
        to: None,
    };
    sock(file).send(None, message, &mut NoWait)
}

fn recv(file: &OpenFile, want: usize) -> Result<Received, Errno> {
    sock(file).recv(want, RecvFlags::default(), &mut NoWait)
}

/// A sandbox-like namespace: a tmpfs root and an abstract namespace.
struct World {
    vfs: Arc<Vfs>,
    ctx: LookupCtx,
    names: AbstractNames,
}

impl World {
    fn new() -> World {
        let memory = mm::MemoryFile::new(1 << 30).expect("memory file");
        let vfs = Vfs::new(vfs::tmpfs::TmpFs::new(0o1777, memory.clone()), memory);
        let ctx = LookupCtx {
            root: vfs.root(),
            start: vfs.root(),
        };
        World {
            vfs,
            ctx,
            names: AbstractNames::new(),
        }
    }

    fn ns(&self) -> Namespace<'_> {
        Namespace {
            abstract_names: &self.names,
            vfs: &self.vfs,
            lookup: &self.ctx,
            umask: 0o022,
        }
    }
}

fn listener(world: &World, address: &UnixAddress, backlog: i32) -> Arc<OpenFile> {
    let file = UnixSocket::new_file(SocketType::Stream, ME, 0);
    sock(&file).bind(&world.ns(), address).expect("bind");
    sock(&file).listen(backlog, ME).expect("listen");
    file
}

fn connect(world: &World, address: &UnixAddress) -> Result<Arc<OpenFile>, Errno> {
    let file = UnixSocket::new_file(SocketType::Stream, ME, 0);
    sock(&file).connect(&world.ns(), Some(address), ME, &mut NoWait)?;
    Ok(file)
}

#[test]
fn stream_pair_carries_bytes_then_eof_then_epipe() {
    let (a, b) = UnixSocket::pair(SocketType::Stream, ME, 0);
    assert_eq!(send(&a, b"hello "), Ok(6));
    assert_eq!(send(&a, b"world"), Ok(5));
    assert_eq!(recv(&b, 100).map(|r| r.data), Ok(b"hello world".to_vec()));
    assert_eq!(recv(&b, 100).err(), Some(Errno::EAGAIN));
    sock(&a).shutdown(libc::SHUT_WR).expect("shutdown");
    assert_eq!(recv(&b, 100).map(|r| r.data.len()), Ok(0));
    assert_eq!(send(&a, b"x"), Err(Errno::EPIPE));
    drop(a);
    assert_eq!(send(&b, b"x"), Err(Errno::EPIPE));
    assert_ne!(b.readiness(events::POLLIN) & events::POLLHUP, 0);
}

#[test]
fn datagrams_keep_boundaries_and_truncate() {
    let (a, b) = UnixSocket::pair(SocketType::Datagram, ME, 0);
    send(&a, b"first").expect("send");
    send(&a, b"second").expect("send");
    let got = recv(&b, 3).expect("recv");
    assert_eq!(
        (got.data.as_slice(), got.len, got.truncated),
        (&b"fir"[..], 5, true)
    );
    let peeked = sock(&b)
        .recv(
            100,
            RecvFlags {
                peek: true,
                waitall: false,
            },
            &mut NoWait,
        )
        .expect("peek");
    assert_eq!(peeked.data, b"second");
    assert_eq!(recv(&b, 100).map(|r| r.data), Ok(b"second".to_vec()));
    assert_eq!(recv(&b, 100).err(), Some(Errno::EAGAIN));
}

#[test]
fn abstract_names_listen_connect_accept() {
    let world = World::new();
    let name = UnixAddress::Abstract(b"svc".to_vec());
    let server = listener(&world, &name, 5);
    let taken = UnixSocket::new_file(SocketType::Stream, ME, 0);
    assert_eq!(
        sock(&taken).bind(&world.ns(), &name),
        Err(Errno::EADDRINUSE)
    );
    let client = connect(&world, &name).expect("connect");
    assert_ne!(server.readiness(events::POLLIN), 0);
    let (accepted, peer) = sock(&server).accept(0, &mut NoWait).expect("accept");
    assert_eq!(peer, UnixAddress::Unnamed);
    assert_eq!(sock(&client).peer_address(), Ok(name.clone()));
    assert_eq!(sock(&accepted).local_address(), name);
    send(&client, b"ping").expect("send");
    assert_eq!(recv(&accepted, 10).map(|r| r.data), Ok(b"ping".to_vec()));
    assert_eq!(
        sock(&server).accept(0, &mut NoWait).err(),
        Some(Errno::EAGAIN)
    );
    drop(server);
    assert_eq!(connect(&world, &name).err(), Some(Errno::ECONNREFUSED));
    // The name is free again once its socket is closed.
    let again = UnixSocket::new_file(SocketType::Stream, ME, 0);
    assert_eq!(sock(&again).bind(&world.ns(), &name), Ok(()));
}

#[test]
fn path_names_are_socket_files() {
    let world = World::new();
    let path = UnixAddress::Path(b"/sock".to_vec());
    let server = listener(&world, &path, 1);
    let stat = world.vfs.stat(&world.ctx, b"/sock", true).expect("stat");
    assert_eq!(stat.st_mode & libc::S_IFMT, libc::S_IFSOCK);
    assert_eq!(stat.st_mode & 0o777, 0o755);
    assert_eq!(
        world.vfs.open(&world.ctx, b"/sock", libc::O_RDWR, 0).err(),
        Some(Errno::ENXIO)
    );
    let other = UnixSocket::new_file(SocketType::Stream, ME, 0);
    assert_eq!(
        sock(&other).bind(&world.ns(), &path),
        Err(Errno::EADDRINUSE)
    );
    connect(&world, &path).expect("connect");
    let dgram = UnixSocket::new_file(SocketType::Datagram, ME, 0);
    assert_eq!(
        sock(&dgram).connect(&world.ns(), Some(&path), ME, &mut NoWait),
        Err(Errno::EPROTOTYPE)
    );
    assert_eq!(
        connect(&world, &UnixAddress::Path(b"/missing".to_vec())).err(),
        Some(Errno::ENOENT)
    );
    drop(server);
    assert_eq!(connect(&world, &path).err(), Some(Errno::ECONNREFUSED));
}

#[test]
fn a_full_backlog_is_eagain_without_blocking() {
    let world = World::new();
    let name = UnixAddress::Abstract(b"full".to_vec());
    let _server = listener(&world, &name, 0);
    let _first = connect(&world, &name).expect("first fits");
    assert_eq!(connect(&world, &name).err(), Some(Errno::EAGAIN));
}

#[test]
fn rights_travel_with_the_first_byte() {
    let (a, b) = UnixSocket::pair(SocketType::Stream, ME, 0);
    let (passed, _keep) = UnixSocket::pair(SocketType::Datagram, ME, 0);
    send(&a, b"ab").expect("plain bytes");
    let message = SendMessage {
        data: b"cd",
        rights: vec![Arc::clone(&passed)],
        creds: ME,
        to: None,
    };
    sock(&a)
        .send(None, message, &mut NoWait)
        .expect("send with rights");
    // The read stops before the message with files, then delivers them with its bytes.
    let first = recv(&b, 10).expect("recv");
    assert_eq!((first.data.as_slice(), first.rights.len()), (&b"ab"[..], 0));
    let second = recv(&b, 10).expect("recv");
    assert_eq!(second.data, b"cd");
    assert_eq!(second.rights.len(), 1);
    assert!(Arc::ptr_eq(&second.rights[0], &passed));
}

#[test]
fn a_blocked_receive_wakes_on_data() {
    let (a, b) = UnixSocket::pair(SocketType::SeqPacket, ME, 0);
    let reader = std::thread::spawn(move || {
        sock(&b)
            .recv(10, RecvFlags::default(), &mut Sleeping::new())
            .map(|r| r.data)
    });
    std::thread::sleep(Duration::from_millis(20));
    send(&a, b"wake").expect("send");
    assert_eq!(reader.join().expect("reader"), Ok(b"wake".to_vec()));
}

#[test]
fn peer_credentials_and_options() {
    let world = World::new();
    let name = UnixAddress::Abstract(b"creds".to_vec());
    let server_cred = Ucred {
        pid: 1,
        uid: 0,
        gid: 0,
    };
    let server = UnixSocket::new_file(SocketType::Stream, server_cred, 0);
    sock(&server).bind(&world.ns(), &name).expect("bind");
    sock(&server).listen(1, server_cred).expect("listen");
    let client = connect(&world, &name).expect("connect");
    let (accepted, _) = sock(&server).accept(0, &mut NoWait).expect("accept");
    let cred = |f: &OpenFile| sock(f).getsockopt(libc::SOL_SOCKET, libc::SO_PEERCRED);
    assert_eq!(cred(&client), Ok(server_cred.to_bytes()));
    assert_eq!(cred(&accepted), Ok(ME.to_bytes()));
    let lone = UnixSocket::new_file(SocketType::Stream, ME, 0);
    assert_eq!(cred(&lone), Ok(Ucred::NONE.to_bytes()));
    assert_eq!(
        sock(&lone).getsockopt(libc::SOL_SOCKET, libc::SO_TYPE),
        Ok(libc::SOCK_STREAM.to_ne_bytes().to_vec())
    );
    sock(&lone)
        .setsockopt(libc::SOL_SOCKET, libc::SO_PASSCRED, &1i32.to_ne_bytes())
        .expect("passcred");
    assert_eq!(
        sock(&lone).getsockopt(libc::SOL_SOCKET, libc::SO_PASSCRED),
        Ok(1i32.to_ne_bytes().to_vec())
    );
    assert_eq!(
        sock(&lone).getsockopt(libc::SOL_SOCKET, 9999),
        Err(Errno::ENOPROTOOPT)
    );
}
