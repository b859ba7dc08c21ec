//! inotify events from VFS operations on tmpfs.

mod common;

use std::sync::Arc;

use abi::Errno;
use common::{create, tmpfs_vfs};
use vfs::inotify::{
    Inotify, IN_ALL_EVENTS, IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF,
    IN_IGNORED, IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_MOVE_SELF, IN_ONESHOT, IN_OPEN,
};
use vfs::{LookupCtx, OpenFile, Vfs};

type Event = (i32, u32, u32, Vec<u8>);

fn new_instance() -> Arc<OpenFile> {
    OpenFile::anonymous(Box::new(Inotify::new()), libc::O_RDONLY)
}

fn watch(vfs: &Vfs, ctx: &LookupCtx, instance: &OpenFile, path: &str, mask: u32) -> i32 {
    let target = vfs.lookup(ctx, path.as_bytes(), true).unwrap();
    let inotify = instance.ops().as_any().downcast_ref::<Inotify>().unwrap();
    inotify.add_watch(&target, mask).unwrap()
}

/// (wd, mask, cookie, name) of every queued event.
fn events(instance: &OpenFile) -> Vec<Event> {
    let mut buf = vec![0u8; 4096];
    let n = match instance.read(&mut buf) {
        Ok(n) => n,
        Err(Errno::EAGAIN) => return Vec::new(),
        Err(e) => panic!("read: {e}"),
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < n {
        let word = |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().unwrap());
        let len = word(12) as usize;
        let name = &buf[at + 16..at + 16 + len];
        let name = name[..name.iter().position(|&b| b == 0).unwrap_or(len)].to_vec();
        out.push((word(0).cast_signed(), word(4), word(8), name));
        at += 16 + len;
    }
    out
}

fn event(wd: i32, mask: u32, name: &str) -> Event {
    (wd, mask, 0, name.as_bytes().to_vec())
}

#[test]
fn create_write_close_and_unlink_in_a_watched_directory() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    let instance = new_instance();
    let wd = watch(&vfs, &ctx, &instance, "/d", IN_ALL_EVENTS);
    let file = create(&vfs, &ctx, "/d/f", b"x");
    assert_eq!(file.write(b"y"), Ok(1), "coalesced with the first write");
    drop(file);
    vfs.unlink(&ctx, b"/d/f").unwrap();
    assert_eq!(
        events(&instance),
        [
            event(wd, IN_CREATE, "f"),
            event(wd, IN_OPEN, "f"),
            event(wd, IN_MODIFY, "f"),
            event(wd, IN_CLOSE_WRITE, "f"),
            event(wd, IN_DELETE, "f"),
        ]
    );
}

#[test]
fn rename_pairs_moved_from_and_to_and_moves_the_file_watch() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/a", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/b", 0o755).unwrap();
    drop(create(&vfs, &ctx, "/a/f", b""));
    let instance = new_instance();
    let a = watch(&vfs, &ctx, &instance, "/a", IN_ALL_EVENTS);
    let b = watch(&vfs, &ctx, &instance, "/b", IN_ALL_EVENTS);
    let f = watch(&vfs, &ctx, &instance, "/a/f", IN_ALL_EVENTS);
    vfs.rename(&ctx, b"/a/f", &ctx, b"/b/g", 0).unwrap();
    let seen = events(&instance);
    assert_eq!(seen.len(), 3, "{seen:?}");
    let (from, to) = (&seen[0], &seen[1]);
    assert_eq!((from.0, from.1, &from.3[..]), (a, IN_MOVED_FROM, &b"f"[..]));
    assert_eq!((to.0, to.1, &to.3[..]), (b, IN_MOVED_TO, &b"g"[..]));
    assert!(from.2 != 0 && from.2 == to.2, "one cookie pairs them");
    assert_eq!(seen[2], event(f, IN_MOVE_SELF, ""));
    // The watch follows the inode: the new name's events reach it.
    vfs.chmod(&ctx, b"/b/g", 0o600).unwrap();
    assert_eq!(
        events(&instance),
        [event(b, IN_ATTRIB, "g"), event(f, IN_ATTRIB, "")]
    );
    vfs.unlink(&ctx, b"/b/g").unwrap();
    assert_eq!(
        events(&instance),
        [
            event(f, IN_ATTRIB, ""),
            event(f, IN_DELETE_SELF, ""),
            event(f, IN_IGNORED, ""),
            event(b, IN_DELETE, "g"),
        ]
    );
}

#[test]
fn oneshot_and_closing_the_instance_end_watches() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    let instance = new_instance();
    let wd = watch(&vfs, &ctx, &instance, "/d", IN_CREATE | IN_ONESHOT);
    drop(create(&vfs, &ctx, "/d/a", b""));
    drop(create(&vfs, &ctx, "/d/b", b""));
    assert_eq!(
        events(&instance),
        [event(wd, IN_CREATE, "a"), event(wd, IN_IGNORED, "")]
    );
    // A closed instance leaves nothing behind to deliver to.
    let other = new_instance();
    watch(&vfs, &ctx, &other, "/d", IN_CREATE);
    drop(other);
    drop(create(&vfs, &ctx, "/d/c", b""));
    assert!(events(&instance).is_empty());
}
