//! ELF64 headers: just what loading an x86_64 executable needs.

use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub(crate) const ET_EXEC: u16 = 2;
pub(crate) const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
pub(crate) const PT_LOAD: u32 = 1;
pub(crate) const PT_INTERP: u32 = 3;
pub(crate) const PT_PHDR: u32 = 6;
pub(crate) const PF_X: u32 = 1;
pub(crate) const PF_W: u32 = 2;
pub(crate) const PF_R: u32 = 4;

/// Program headers past this many are not a real executable (Linux: 64 KiB of them).
const MAX_PHNUM: u16 = 1024;

#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct FileHeader {
    pub(crate) ident: [u8; 16],
    pub(crate) ty: u16,
    pub(crate) machine: u16,
    pub(crate) version: u32,
    pub(crate) entry: u64,
    pub(crate) phoff: u64,
    pub(crate) shoff: u64,
    pub(crate) flags: u32,
    pub(crate) ehsize: u16,
    pub(crate) phentsize: u16,
    pub(crate) phnum: u16,
    pub(crate) shentsize: u16,
    pub(crate) shnum: u16,
    pub(crate) shstrndx: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ProgramHeader {
    pub(crate) ty: u32,
    pub(crate) flags: u32,
    pub(crate) offset: u64,
    pub(crate) vaddr: u64,
    pub(crate) paddr: u64,
    pub(crate) filesz: u64,
    pub(crate) memsz: u64,
    pub(crate) align: u64,
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a program header is 56 bytes"
)]
pub(crate) const PHDR_SIZE: u16 = std::mem::size_of::<ProgramHeader>() as u16;

impl FileHeader {
    /// Parses and checks the header: a 64-bit little-endian x86_64 executable or shared object.
    pub(crate) fn parse(bytes: &[u8]) -> Result<FileHeader, Errno> {
        let (header, _) = FileHeader::read_from_prefix(bytes).map_err(|_| Errno::ENOEXEC)?;
        let ident = &header.ident;
        if &ident[..4] != b"\x7fELF" || ident[4] != 2 || ident[5] != 1 {
            return Err(Errno::ENOEXEC);
        }
        if header.machine != EM_X86_64
            || !matches!(header.ty, ET_EXEC | ET_DYN)
            || header.phentsize != PHDR_SIZE
            || header.phnum == 0
            || header.phnum > MAX_PHNUM
        {
            return Err(Errno::ENOEXEC);
        }
        Ok(header)
    }

    /// Byte length of the program header table.
    pub(crate) fn phdrs_len(&self) -> usize {
        usize::from(self.phnum) * usize::from(PHDR_SIZE)
    }
}

/// Parses a program header table read from the file.
pub(crate) fn parse_phdrs(bytes: &[u8]) -> Result<Vec<ProgramHeader>, Errno> {
    bytes
        .chunks_exact(usize::from(PHDR_SIZE))
        .map(|c| ProgramHeader::read_from_bytes(c).map_err(|_| Errno::ENOEXEC))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_x86_64_elf() {
        assert_eq!(
            FileHeader::parse(b"#!/bin/sh\n").err(),
            Some(Errno::ENOEXEC)
        );
        assert_eq!(FileHeader::parse(&[0; 64]).err(), Some(Errno::ENOEXEC));
    }

    #[test]
    fn parses_the_running_test_binary_header() {
        let exe = std::fs::read("/proc/self/exe").expect("reading own executable");
        let header = FileHeader::parse(&exe).expect("own executable is an x86_64 ELF");
        let start = usize::try_from(header.phoff).expect("phoff");
        let phdrs = parse_phdrs(&exe[start..start + header.phdrs_len()]).expect("phdrs");
        assert!(phdrs.iter().any(|p| p.ty == PT_LOAD));
    }
}
