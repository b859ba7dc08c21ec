//! Builds the vDSO image from image/vdso.c with the system C compiler (the one that links Rust
//! programs here anyway) and checks that the Sentry can map it as it is.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("vdso.so");
    let source = manifest.join("image/vdso.c");
    let script = manifest.join("image/vdso.lds");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-fPIC",
            "-shared",
            "-nostdlib",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-builtin",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--hash-style=both",
            "-Wl,--eh-frame-hdr",
            "-Wl,--no-undefined",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--build-id=none",
        ])
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to build the vDSO: {e}"));
    assert!(status.success(), "{cc} failed to build the vDSO: {status}");
    let image = std::fs::read(&out).expect("reading the built vDSO");
    if let Err(problem) = check(&image) {
        panic!("the vDSO can't be mapped as it is: {problem}");
    }
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PF_W: u32 = 2;
const DT_NULL: u64 = 0;
/// DT_RELA, DT_REL, DT_TEXTREL, DT_JMPREL, DT_RELR: any relocation to apply.
const DT_RELOCATIONS: [u64; 5] = [7, 17, 22, 23, 36];

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn usize_of(v: u64) -> usize {
    usize::try_from(v).expect("small ELF")
}

/// One PT_LOAD, read-execute, from offset 0 at address 0 (file layout = memory layout), and
/// no relocations: the Sentry maps the bytes, nobody relocates them.
fn check(image: &[u8]) -> Result<(), String> {
    let phoff = usize_of(u64_at(image, 0x20));
    let phentsize = usize::from(u16_at(image, 0x36));
    let phnum = usize::from(u16_at(image, 0x38));
    let mut loads = 0;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (ty, flags) = (u32_at(image, ph), u32_at(image, ph + 4));
        let (offset, vaddr) = (u64_at(image, ph + 8), u64_at(image, ph + 16));
        let (filesz, memsz) = (u64_at(image, ph + 32), u64_at(image, ph + 40));
        if ty == PT_LOAD {
            loads += 1;
            if offset != 0 || vaddr != 0 || filesz != memsz || flags & PF_W != 0 {
                return Err(format!(
                    "PT_LOAD at offset {offset:#x} vaddr {vaddr:#x} filesz {filesz:#x} memsz {memsz:#x} flags {flags:#x}"
                ));
            }
        }
        if ty == PT_DYNAMIC {
            let dynamic = &image[usize_of(offset)..usize_of(offset + filesz)];
            for entry in dynamic.chunks_exact(16) {
                let tag = u64_at(entry, 0);
                if tag == DT_NULL {
                    break;
                }
                if DT_RELOCATIONS.contains(&tag) {
                    return Err(format!("dynamic tag {tag} asks for relocations"));
                }
            }
        }
    }
    if loads != 1 {
        return Err(format!("{loads} PT_LOAD segments"));
    }
    Ok(())
}
