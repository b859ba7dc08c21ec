//! Shared set-up of the VFS tests: a tmpfs root and a lookup context at it.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::sync::Arc;

use abi::Errno;
use vfs::tmpfs::TmpFs;
use vfs::{LookupCtx, OpenFile, Vfs};

/// The memory file the tests' tmpfs files keep their data in, one per test binary.
pub fn memory() -> Arc<mm::MemoryFile> {
    static MEMORY: std::sync::OnceLock<Arc<mm::MemoryFile>> = std::sync::OnceLock::new();
    Arc::clone(MEMORY.get_or_init(|| mm::MemoryFile::new(1 << 30).expect("memory file")))
}

pub fn tmpfs_vfs() -> (Arc<Vfs>, LookupCtx) {
    let vfs = Vfs::new(TmpFs::new(0o1777, memory()), memory());
    let ctx = LookupCtx {
        root: vfs.root(),
        start: vfs.root(),
    };
    (vfs, ctx)
}

pub fn create(vfs: &Vfs, ctx: &LookupCtx, path: &str, contents: &[u8]) -> Arc<OpenFile> {
    let file = vfs
        .open(ctx, path.as_bytes(), libc::O_CREAT | libc::O_RDWR, 0o644)
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
    assert_eq!(file.write(contents), Ok(contents.len()));
    file
}

pub fn read_all(file: &OpenFile) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// One parsed `linux_dirent64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    pub off: i64,
    pub reclen: u16,
    pub ty: u8,
    pub name: Vec<u8>,
}

pub fn parse_dirents(mut buf: &[u8]) -> Vec<Dirent> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let ino = u64::from_ne_bytes(buf[0..8].try_into().unwrap());
        let off = i64::from_ne_bytes(buf[8..16].try_into().unwrap());
        let reclen = u16::from_ne_bytes(buf[16..18].try_into().unwrap());
        let ty = buf[18];
        let name_area = &buf[19..usize::from(reclen)];
        let nul = name_area
            .iter()
            .position(|&b| b == 0)
            .expect("name is NUL-terminated");
        assert!(name_area[nul..].iter().all(|&b| b == 0), "padding is zeros");
        out.push(Dirent {
            ino,
            off,
            reclen,
            ty,
            name: name_area[..nul].to_vec(),
        });
        buf = &buf[usize::from(reclen)..];
    }
    out
}

pub fn ino(vfs: &Vfs, ctx: &LookupCtx, path: &str) -> u64 {
    vfs.stat(ctx, path.as_bytes(), true)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .st_ino
}
