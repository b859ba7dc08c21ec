//! The mapping listing behind /proc/[pid]/maps.

use platform::Prot;

use super::MemoryManager;
use crate::vma::{Backing, Vma};

/// One line of /proc/[pid]/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub shared: bool,
    /// The file offset of `start` (0 for anonymous memory).
    pub offset: u64,
    /// The file's `st_dev` (0 for anonymous memory).
    pub device: u64,
    /// The file's inode number (0 for anonymous memory).
    pub inode: u64,
    /// The file's name, `[heap]`, `[stack]`, or empty.
    pub name: Vec<u8>,
}

/// The column where Linux starts the name: the fixed-width fields of a 64-bit line and their
/// padding (fs/proc/task_mmu.c pads to `25 + 6 * sizeof(void *)` minus one, then a space).
const NAME_COLUMN: usize = 73;

impl MapsEntry {
    /// The entry as Linux prints it, newline included:
    /// `start-end perms offset major:minor inode` then, if there is one, the name at column 73.
    pub fn line(&self) -> Vec<u8> {
        let flag = |set: bool, c: char| if set { c } else { '-' };
        let (major, minor) = split_device(self.device);
        let mut line = format!(
            "{:08x}-{:08x} {}{}{}{} {:08x} {major:02x}:{minor:02x} {} ",
            self.start,
            self.end,
            flag(self.prot.read, 'r'),
            flag(self.prot.write, 'w'),
            flag(self.prot.exec, 'x'),
            if self.shared { 's' } else { 'p' },
            self.offset,
            self.inode,
        )
        .into_bytes();
        if !self.name.is_empty() {
            line.resize(line.len().max(NAME_COLUMN), b' ');
            line.extend_from_slice(&self.name);
        }
        line.push(b'\n');
        line
    }
}

/// The major and minor numbers of a `st_dev` value, as glibc's `major`/`minor` decode it.
fn split_device(device: u64) -> (u64, u64) {
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff);
    let minor = (device & 0xff) | ((device >> 12) & !0xff);
    (major, minor)
}

impl MemoryManager {
    /// The mappings in address order, as Linux lists them: adjacent pieces that are one mapping
    /// show as one line.
    pub fn maps(&self) -> Vec<MapsEntry> {
        let state = self.state.lock();
        let heap = state.brk.start..abi::page_ceil(state.brk.current).unwrap_or(u64::MAX);
        let mut entries: Vec<MapsEntry> = Vec::new();
        let mut previous: Option<&Vma> = None;
        for vma in state.vmas.iter() {
            match (previous, entries.last_mut()) {
                (Some(prev), Some(last)) if prev.same_mapping_as(vma) => last.end = vma.range.end,
                _ => {
                    let (device, inode, name) = match &vma.backing {
                        Backing::File { file, .. } | Backing::SharedFile { file, .. } => {
                            (file.device(), file.inode(), file.name())
                        }
                        Backing::Special { name } => (0, 0, name.to_vec()),
                        Backing::Anonymous if vma.grows_down => (0, 0, b"[stack]".to_vec()),
                        Backing::Anonymous if heap.contains(&vma.range.start) => {
                            (0, 0, b"[heap]".to_vec())
                        }
                        Backing::Anonymous => (0, 0, Vec::new()),
                    };
                    entries.push(MapsEntry {
                        start: vma.range.start,
                        end: vma.range.end,
                        prot: vma.prot,
                        shared: vma.shared,
                        offset: vma.file_offset_at(vma.range.start).unwrap_or(0),
                        device,
                        inode,
                        name,
                    });
                }
            }
            previous = Some(vma);
        }
        entries
    }
}
