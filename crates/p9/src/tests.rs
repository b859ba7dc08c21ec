use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{RngAlgorithm, TestRng};

use crate::*;

const LARGE_MSIZE: u32 = 1 << 20;

fn message_of_type(type_number: u8, seed: [u8; 32]) -> Message {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    Message::sample_of_type(type_number, &mut rng).expect("type numbers come from TYPE_NUMBERS")
}

proptest! {
    #[test]
    fn every_message_round_trips(
        type_number in select(Message::TYPE_NUMBERS),
        seed in any::<[u8; 32]>(),
        tag in any::<u16>(),
    ) {
        let frame = Frame { tag, message: message_of_type(type_number, seed) };
        let bytes = frame.encode(LARGE_MSIZE).unwrap();
        prop_assert_eq!(Frame::decode(&bytes, LARGE_MSIZE).unwrap(), frame);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Frame::decode(&bytes, LARGE_MSIZE);
    }
}

#[test]
fn every_type_number_has_a_distinct_message() {
    let mut seen = std::collections::HashSet::new();
    for &type_number in Message::TYPE_NUMBERS {
        let message = message_of_type(type_number, [7; 32]);
        assert_eq!(message.type_number(), type_number);
        assert!(seen.insert(message.name()));
    }
    // 29 T/R pairs minus Tlerror, which 9P2000.L never sends, plus the extensions: Tlopenfd
    // and the four owned creations, each with its reply.
    assert_eq!(seen.len(), 67);
}

fn header(size: u32, type_number: u8, tag: u16) -> Vec<u8> {
    let mut bytes = size.to_le_bytes().to_vec();
    bytes.push(type_number);
    bytes.extend_from_slice(&tag.to_le_bytes());
    bytes
}

#[test]
fn oversized_frame_is_rejected_before_reading_its_body() {
    // Only the size field is present: reading the body would fail with EOF instead.
    let mut input: &[u8] = &u32::MAX.to_le_bytes();
    let error = read_frame(&mut input, 8192).unwrap_err();
    assert!(
        matches!(error, Error::Protocol(ProtocolError::FrameTooLarge { .. })),
        "{error:?}"
    );
}

#[test]
fn counts_larger_than_the_frame_are_truncation_errors() {
    let mut walk = header(7 + 4 + 4 + 2, 110, 9);
    walk.extend_from_slice(&[0; 8]);
    walk.extend_from_slice(&u16::MAX.to_le_bytes());
    let error = Frame::decode(&walk, LARGE_MSIZE).unwrap_err();
    assert_eq!(
        error,
        FrameError {
            tag: Some(9),
            source: ProtocolError::Truncated
        }
    );

    let mut read = header(7 + 4, 117, 3);
    read.extend_from_slice(&u32::MAX.to_le_bytes());
    let error = Frame::decode(&read, LARGE_MSIZE).unwrap_err();
    assert_eq!(
        error,
        FrameError {
            tag: Some(3),
            source: ProtocolError::Truncated
        }
    );
}

#[test]
fn undecodable_body_keeps_its_tag() {
    let unknown = header(7, 250, 42);
    assert_eq!(
        Frame::decode(&unknown, LARGE_MSIZE).unwrap_err().tag,
        Some(42)
    );
    let mut trailing = header(7 + 4 + 1, 120, 43);
    trailing.extend_from_slice(&[1, 0, 0, 0, 9]);
    assert_eq!(
        Frame::decode(&trailing, LARGE_MSIZE).unwrap_err(),
        FrameError {
            tag: Some(43),
            source: ProtocolError::TrailingBytes(1)
        }
    );
}

#[test]
fn dir_entries_pack_whole_entries_only() {
    let entries: Vec<DirEntry> = (0..3)
        .map(|i| DirEntry {
            qid: Qid::default(),
            offset: i + 1,
            ty: 8,
            name: vec![b'a'; 10],
        })
        .collect();
    let one_entry = 13 + 8 + 1 + 2 + 10;
    let packed = DirEntry::pack(&entries, one_entry * 2 + 5).unwrap();
    assert_eq!(DirEntry::unpack(&packed).unwrap(), entries[..2]);
}

/// A server with one directory (the root, path 1) holding one file `hello` (path 2). With
/// `donates`, it implements Tlopenfd by donating a pipe that holds the file's bytes.
#[derive(Default)]
struct OneFileServer {
    msize: u32,
    fids: std::collections::HashMap<Fid, u64>,
    donates: bool,
}

const ENOENT: u32 = 2;
const EBADF: u32 = 9;
const EIO: u32 = 5;
const EOPNOTSUPP: u32 = 95;
const CONTENT: &[u8] = b"hello, world\n";

impl OneFileServer {
    fn qid(path: u64) -> Qid {
        let ty = if path == 1 {
            QID_TYPE_DIR
        } else {
            QID_TYPE_FILE
        };
        Qid {
            ty,
            version: 0,
            path,
        }
    }
}

impl Server for OneFileServer {
    fn version(&mut self, t: &Tversion) -> Reply<Rversion> {
        Ok(Rversion {
            msize: t.msize.min(self.msize),
            version: t.version.clone(),
        })
    }
    fn attach(&mut self, t: &Tattach) -> Reply<Rattach> {
        self.fids.insert(t.fid, 1);
        Ok(Rattach { qid: Self::qid(1) })
    }
    fn walk(&mut self, t: &Twalk) -> Reply<Rwalk> {
        let mut path = *self.fids.get(&t.fid).ok_or(EBADF)?;
        let mut wqids = Vec::new();
        for name in &t.wnames {
            match (path, name.as_slice()) {
                (1, b"hello") => path = 2,
                _ if wqids.is_empty() => return Err(ENOENT),
                _ => return Ok(Rwalk { wqids }),
            }
            wqids.push(Self::qid(path));
        }
        self.fids.insert(t.newfid, path);
        Ok(Rwalk { wqids })
    }
    fn lopen(&mut self, t: &Tlopen) -> Reply<Rlopen> {
        Ok(Rlopen {
            qid: Self::qid(*self.fids.get(&t.fid).ok_or(EBADF)?),
            iounit: 0,
        })
    }
    fn read(&mut self, t: &Tread) -> Reply<Rread> {
        let start = usize::try_from(t.offset)
            .unwrap_or(usize::MAX)
            .min(CONTENT.len());
        let end = (start + t.count as usize).min(CONTENT.len());
        Ok(Rread {
            data: Data(CONTENT[start..end].to_vec()),
        })
    }
    fn clunk(&mut self, t: &Tclunk) -> Reply<Rclunk> {
        self.fids.remove(&t.fid).map(|_| Rclunk {}).ok_or(EBADF)
    }
    fn lopenfd(&mut self, t: &Tlopenfd) -> Reply<(Rlopenfd, std::os::fd::OwnedFd)> {
        if !self.donates {
            return Err(EOPNOTSUPP);
        }
        let qid = Self::qid(*self.fids.get(&t.fid).ok_or(EBADF)?);
        let (reader, mut writer) = std::io::pipe().map_err(|_| EIO)?;
        writer.write_all(CONTENT).map_err(|_| EIO)?;
        Ok((Rlopenfd { qid, iounit: 0 }, reader.into()))
    }
}

fn connect(server: OneFileServer) -> (Client, thread::JoinHandle<Result<(), Error>>) {
    let (client_end, server_end) = UnixStream::pair().unwrap();
    let mut server = server;
    let server = thread::spawn(move || serve(server_end, &mut server));
    (Client::new(client_end, 65536).unwrap(), server)
}

#[test]
fn client_and_server_talk() {
    let (client, server) = connect(OneFileServer {
        msize: 4096,
        ..OneFileServer::default()
    });
    assert_eq!(client.msize(), 4096);
    let (root, root_qid) = client.attach(b"user", b"", 1000).unwrap();
    assert_eq!(root_qid.ty, QID_TYPE_DIR);
    let (file, qids) = client.walk(root, &[b"hello"]).unwrap();
    assert_eq!(qids, [OneFileServer::qid(2)]);
    client.lopen(file, 0).unwrap();
    assert_eq!(client.read(file, 7, 100).unwrap(), b"world\n");
    // A read larger than a frame is clamped to what fits.
    assert_eq!(client.read(file, 0, u32::MAX).unwrap(), CONTENT);

    // Missing first name: the server's errno. Partial walk: ENOENT, and no fid is leaked.
    assert_eq!(client.walk(root, &[b"nope"]).unwrap_err().errno(), 2);
    assert!(matches!(
        client.walk(root, &[b"hello", b"x"]),
        Err(Error::Remote(ENOENT))
    ));
    client.clunk(file).unwrap();
    let (clone, qids) = client.walk(root, &[]).unwrap();
    assert!(qids.is_empty());
    assert_eq!(clone, file, "the released fid is reused");
    assert!(matches!(client.clunk(1234), Err(Error::Remote(EBADF))));
    assert!(matches!(client.statfs(root), Err(Error::Remote(95))));
    drop(client);
    server.join().unwrap().unwrap();
}

#[test]
fn server_answers_undecodable_frames_with_rlerror_to_their_tag() {
    let (mut raw, server_end) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        serve(
            server_end,
            &mut OneFileServer {
                msize: 8192,
                ..OneFileServer::default()
            },
        )
    });
    let mut garbage = header(7 + 1, 120, 77); // Tclunk with a 1-byte body
    garbage.push(0);
    raw.write_all(&garbage).unwrap();
    let reply = read_frame(&mut raw, 8192).unwrap().unwrap();
    let reply = Frame::decode(&reply, 8192).unwrap();
    assert_eq!(
        reply,
        Frame {
            tag: 77,
            message: Rlerror { ecode: 22 }.into()
        }
    );
    drop(raw);
    server.join().unwrap().unwrap();
}

#[test]
fn donated_fd_reads_the_file_and_leaves_the_fid_unopened() {
    let (client, server) = connect(OneFileServer {
        msize: 8192,
        donates: true,
        ..OneFileServer::default()
    });
    let (root, _) = client.attach(b"user", b"", 0).unwrap();
    let (file, _) = client.walk(root, &[b"hello"]).unwrap();
    let (qid, _, fd) = client.lopenfd(file, 0).unwrap();
    assert_eq!(qid, OneFileServer::qid(2));
    // The fid is unchanged: still there to open and read through 9P.
    client.lopen(file, 0).unwrap();
    assert_eq!(client.read(file, 0, 100).unwrap(), CONTENT);
    // The descriptor outlives the fid.
    client.clunk(file).unwrap();
    let mut donated = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut donated).unwrap();
    assert_eq!(donated.as_bytes(), CONTENT);
    // The connection stays in step after a reply with a descriptor.
    assert_eq!(client.walk(root, &[b"hello"]).unwrap().1.len(), 1);
    drop(client);
    server.join().unwrap().unwrap();
}

#[test]
fn a_server_without_fd_donation_declines_and_lopen_still_works() {
    let (client, server) = connect(OneFileServer {
        msize: 8192,
        ..OneFileServer::default()
    });
    let (root, _) = client.attach(b"user", b"", 0).unwrap();
    let (file, _) = client.walk(root, &[b"hello"]).unwrap();
    assert!(matches!(
        client.lopenfd(file, 0),
        Err(Error::Remote(EOPNOTSUPP))
    ));
    client.lopen(file, 0).unwrap();
    assert_eq!(client.read(file, 0, 100).unwrap(), CONTENT);
    drop(client);
    server.join().unwrap().unwrap();
}

#[test]
fn unknown_message_types_are_answered_with_eopnotsupp() {
    let (mut raw, server_end) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        serve(
            server_end,
            &mut OneFileServer {
                msize: 8192,
                ..OneFileServer::default()
            },
        )
    });
    raw.write_all(&header(7, 250, 5)).unwrap();
    let reply = read_frame(&mut raw, 8192).unwrap().unwrap();
    assert_eq!(
        Frame::decode(&reply, 8192).unwrap(),
        Frame {
            tag: 5,
            message: Rlerror { ecode: EOPNOTSUPP }.into()
        }
    );
    drop(raw);
    server.join().unwrap().unwrap();
}
