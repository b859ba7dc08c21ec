//! The `linux_dirent64` records of getdents64, and the older `linux_dirent` of getdents.

use abi::Errno;

use crate::fs::DirEntry;

/// `d_ino`, `d_off`, `d_reclen`, `d_type`: the fixed part before the name.
const HEADER_LEN: usize = 8 + 8 + 2 + 1;
/// `linux_dirent`'s `d_ino`, `d_off`, `d_reclen` before the name; `d_type` is its last byte.
const OLD_HEADER_LEN: usize = 8 + 8 + 2;

/// Which record layout getdents writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `linux_dirent64` (getdents64): the type before the name.
    Dirent64,
    /// `linux_dirent` (getdents): the type in the record's last byte, after the name's NUL.
    Dirent,
}

/// Encodes entries (the first having index `first_index`) while they fit in `max_bytes`.
/// Returns the records and how many entries they hold; EINVAL if the first one doesn't fit.
pub(super) fn encode<'a>(
    entries: impl Iterator<Item = &'a DirEntry>,
    first_index: usize,
    max_bytes: usize,
    format: Format,
) -> Result<(Vec<u8>, usize), Errno> {
    let mut out = Vec::new();
    let mut count = 0;
    for entry in entries {
        let reclen = match format {
            Format::Dirent64 => HEADER_LEN + entry.name.len() + 1,
            Format::Dirent => OLD_HEADER_LEN + entry.name.len() + 2,
        }
        .next_multiple_of(8);
        if out.len() + reclen > max_bytes {
            if count == 0 {
                return Err(Errno::EINVAL);
            }
            break;
        }
        let reclen_field = u16::try_from(reclen).map_err(|_| Errno::ENAMETOOLONG)?;
        // d_off is the offset of the next entry: its index.
        let next_index = (first_index + count + 1) as u64;
        let record_start = out.len();
        out.extend_from_slice(&entry.ino.to_ne_bytes());
        out.extend_from_slice(&next_index.to_ne_bytes());
        out.extend_from_slice(&reclen_field.to_ne_bytes());
        if format == Format::Dirent64 {
            out.push(entry.file_type.dirent_type());
        }
        out.extend_from_slice(&entry.name);
        // The NUL and the padding to 8 bytes.
        out.resize(record_start + reclen, 0);
        if format == Format::Dirent {
            out[record_start + reclen - 1] = entry.file_type.dirent_type();
        }
        count += 1;
    }
    Ok((out, count))
}
