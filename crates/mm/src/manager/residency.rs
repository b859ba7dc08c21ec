//! msync(2) and mincore(2).

use abi::{Errno, PAGE_SIZE};

use super::{page_aligned, MemoryManager};

impl MemoryManager {
    /// msync(2): EINVAL for a bad address or flags, ENOMEM if part of the range is unmapped.
    /// Shared file pages are the file's own pages, so there is nothing to write back for files
    /// kept in the memory file.
    pub fn msync(&self, addr: u64, len: u64, flags: i32) -> Result<(), Errno> {
        let known = libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE;
        if !page_aligned(addr)
            || flags & !known != 0
            || (flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0)
        {
            return Err(Errno::EINVAL);
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::ENOMEM)?;
        if addr == end {
            return Ok(());
        }
        if !self.state.lock().vmas.covers(addr..end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// mincore(2): one byte per page of `[addr, addr + len)`, 1 if the page holds memory (a
    /// touched anonymous page, a filled page of a private file mapping, a page the file holds
    /// for a shared one), else 0. EINVAL for an unaligned address, ENOMEM if part of the range
    /// is unmapped.
    pub fn mincore(&self, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .filter(|&end| end <= self.range.end)
            .ok_or(Errno::ENOMEM)?;
        let state = self.state.lock();
        if !state.vmas.covers(addr..end) {
            return Err(Errno::ENOMEM);
        }
        let pages = usize::try_from((end - addr) / PAGE_SIZE).map_err(|_| Errno::ENOMEM)?;
        let mut resident = vec![0u8; pages];
        let mut mark = |range: std::ops::Range<u64>| {
            let first = (range.start - addr) / PAGE_SIZE;
            let last = (range.end - addr).div_ceil(PAGE_SIZE);
            for index in first..last {
                if let Some(byte) = usize::try_from(index)
                    .ok()
                    .and_then(|i| resident.get_mut(i))
                {
                    *byte = 1;
                }
            }
        };
        for vma in state.vmas.overlapping(addr..end) {
            let part = addr.max(vma.range.start)..end.min(vma.range.end);
            if let Some(file) = vma.shared_file() {
                let Some(first) = vma.file_offset_at(part.start) else {
                    continue;
                };
                let first = first / PAGE_SIZE;
                let count = (part.end - part.start) / PAGE_SIZE;
                for (index, _) in file.backed_pages(first..first + count) {
                    let page = part.start + (index - first) * PAGE_SIZE;
                    mark(page..page + PAGE_SIZE);
                }
                continue;
            }
            for (run, offset) in super::present_runs(&state, vma, part) {
                let runs = self
                    .memory
                    .data_runs(offset..offset + (run.end - run.start))
                    .map_err(|e| {
                        tracing::warn!("mincore: {e}");
                        Errno::ENOMEM
                    })?;
                for data in runs {
                    let start = run.start + (abi::page_floor(data.start) - offset);
                    let stop = run.start + (abi::page_ceil(data.end).unwrap_or(data.end) - offset);
                    mark(start..stop);
                }
            }
        }
        Ok(resident)
    }
}
