//! The Sentry's mapping of the memory file and the copies through it: the crate's only unsafe
//! code.

use std::num::NonZeroUsize;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

/// The whole memory file mapped shared and read-write into the Sentry, for as long as this value
/// lives.
pub(crate) struct SentryMapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory that lives as long as this value; every access goes
// through the bounds-checked byte copies below, which are valid from any thread.
unsafe impl Send for SentryMapping {}
// SAFETY: as for Send: no method hands out references into the mapping, only copies.
unsafe impl Sync for SentryMapping {}

/// A copy that would reach past the end of the mapping.
#[derive(Debug)]
pub(crate) struct OutOfBounds;

impl SentryMapping {
    /// Maps the first `len` bytes of `fd` shared; MAP_NORESERVE because the file is a large
    /// sparse capacity of which only touched pages cost memory.
    pub(crate) fn new(fd: BorrowedFd<'_>, len: NonZeroUsize) -> nix::Result<SentryMapping> {
        // SAFETY: the kernel picks the address (no hint, no MAP_FIXED), so the new mapping
        // replaces nothing and aliases no Rust object; `fd` is a valid open file for the call.
        let base = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED | MapFlags::MAP_NORESERVE,
                fd,
                0,
            )
        }?;
        Ok(SentryMapping {
            base: base.cast(),
            len: len.get(),
        })
    }

    /// The mapping's address of `[offset, offset + len)`, if that lies inside it.
    fn at(&self, offset: u64, len: usize) -> Result<*mut u8, OutOfBounds> {
        let start = usize::try_from(offset).map_err(|_| OutOfBounds)?;
        let end = start.checked_add(len).ok_or(OutOfBounds)?;
        if end > self.len {
            return Err(OutOfBounds);
        }
        // SAFETY: `start + len <= self.len`, so the result stays inside the mapping.
        Ok(unsafe { self.base.as_ptr().add(start) })
    }

    /// Copies the file bytes at `offset` into `dst`.
    pub(crate) fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = self.at(offset, dst.len())?;
        // SAFETY: `src..src+len` is inside the live mapping (checked by `at`) and cannot overlap
        // `dst`, a Rust buffer outside it. The guest may write these pages concurrently; the bytes
        // are plain data and any value is acceptable, as with a guest racing a read(2).
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` into the file at `offset`.
    pub(crate) fn write(&self, offset: u64, src: &[u8]) -> Result<(), OutOfBounds> {
        let dst = self.at(offset, src.len())?;
        // SAFETY: `dst..dst+len` is inside the live, writable mapping (checked by `at`) and
        // cannot overlap `src`, a Rust buffer outside it; no Rust reference points into the
        // mapping, so writing through the raw pointer invalidates none.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        Ok(())
    }

    /// Reads the 8-byte aligned word at `offset` atomically.
    pub(crate) fn load_u64(&self, offset: u64) -> Result<u64, OutOfBounds> {
        let word = self.word(offset)?;
        // SAFETY: `word` is an aligned u64 inside the live mapping (checked by `word`); the
        // atomic lives only for this load, and every other access to the word is a copy.
        Ok(unsafe { AtomicU64::from_ptr(word) }.load(Ordering::Acquire))
    }

    /// Writes the 8-byte aligned word at `offset` atomically, with `order`.
    pub(crate) fn store_u64(
        &self,
        offset: u64,
        value: u64,
        order: Ordering,
    ) -> Result<(), OutOfBounds> {
        let word = self.word(offset)?;
        // SAFETY: as for load_u64.
        unsafe { AtomicU64::from_ptr(word) }.store(value, order);
        Ok(())
    }

    /// Replaces the 4-byte aligned word at `offset` with `update(current)` in one atomic step
    /// (a compare-exchange loop, as the guest's own atomics see it): `Ok(previous)` once stored,
    /// `Err(current)` when `update` declines with `None`.
    pub(crate) fn fetch_update_u32(
        &self,
        offset: u64,
        update: impl FnMut(u32) -> Option<u32>,
    ) -> Result<Result<u32, u32>, OutOfBounds> {
        if !offset.is_multiple_of(4) {
            return Err(OutOfBounds);
        }
        let word = self.at(offset, 4)?.cast::<u32>();
        // SAFETY: `word` is an aligned u32 inside the live mapping (checked above); the atomic
        // lives only for this update, and the guest's accesses to the same word are its own
        // atomics or plain loads and stores, which a locked compare-exchange is coherent with.
        let atomic = unsafe { AtomicU32::from_ptr(word) };
        Ok(atomic.fetch_update(Ordering::SeqCst, Ordering::SeqCst, update))
    }

    /// The aligned u64 at `offset`, inside the mapping.
    fn word(&self, offset: u64) -> Result<*mut u64, OutOfBounds> {
        if !offset.is_multiple_of(8) {
            return Err(OutOfBounds);
        }
        Ok(self.at(offset, 8)?.cast())
    }

    /// Sets `len` file bytes at `offset` to zero.
    pub(crate) fn zero(&self, offset: u64, len: usize) -> Result<(), OutOfBounds> {
        let dst = self.at(offset, len)?;
        // SAFETY: `dst..dst+len` is inside the live, writable mapping (checked by `at`), and no
        // Rust reference points into it.
        unsafe { std::ptr::write_bytes(dst, 0, len) };
        Ok(())
    }
}

impl Drop for SentryMapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping created in `new`, and nothing refers to it
        // any more: every access is a copy that ended before `self` could be dropped.
        if let Err(e) = unsafe { munmap(self.base.cast(), self.len) } {
            tracing::warn!("unmapping the memory file from the sentry: {e}");
        }
    }
}
