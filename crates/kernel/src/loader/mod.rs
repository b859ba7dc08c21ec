//! execve's loader: ELF executables (static, static-PIE, and dynamic through their PT_INTERP)
//! and `#!` scripts, mapped through mm, with the initial stack Linux builds.

mod elf;
mod stack;

use std::sync::Arc;

use abi::{page_ceil, page_floor, Errno, UserRegs, PAGE_SIZE};
use mm::{MappableFile, MemoryManager, MmapRequest};
use platform::{Context, Prot};
use vfs::OpenFile;

use self::elf::{FileHeader, ProgramHeader, ET_DYN, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use crate::syscalls::SetIds;
use crate::task::Task;
use crate::KernelError;

/// Where a position-independent main executable goes (Linux's ELF_ET_DYN_BASE, without ASLR).
const PIE_BASE: u64 = 0x5555_5555_4000;

/// Bounds of the main thread's stack mapping, which follows RLIMIT_STACK.
const MIN_STACK_SIZE: u64 = 128 << 10;
const MAX_STACK_SIZE: u64 = 1 << 30;

/// Longest thread name (TASK_COMM_LEN less the NUL).
pub(crate) const COMM_LEN: usize = 15;

/// Nested `#!` interpreters allowed before ELOOP (Linux: 4 levels, BINPRM_MAX_RECURSION).
const MAX_SCRIPT_DEPTH: usize = 4;

/// Longest `#!` line Linux reads (BINPRM_BUF_SIZE).
const SHEBANG_MAX: usize = 256;

/// What execve runs: the file, already opened for execution, and the name the new image knows
/// it by (AT_EXECFN, a script interpreter's argument).
pub(crate) struct Executable {
    pub(crate) file: Arc<OpenFile>,
    pub(crate) filename: Vec<u8>,
    /// Whether a script interpreter could open `filename`: not when it is the `/dev/fd` path of
    /// a close-on-exec descriptor, gone once the exec is done (Linux's
    /// BINPRM_FLAGS_PATH_INACCESSIBLE; such a script is ENOENT).
    pub(crate) reopenable: bool,
}

/// A private file mapping's view of an open file.
struct ExecutableFile(Arc<OpenFile>);

impl MappableFile for ExecutableFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.0.pread(buf, offset)
    }

    /// The file's cached pages, so every exec of a program maps the same ones.
    fn shared_pages(&self) -> Option<Arc<mm::FilePages>> {
        self.0.shared_pages()
    }
}

/// One ELF object mapped into the address space.
struct LoadedObject {
    /// Added to the object's virtual addresses (0 for ET_EXEC).
    bias: u64,
    header: FileHeader,
    phdrs: Vec<ProgramHeader>,
    /// End of the highest segment: where brk starts for the main executable.
    end: u64,
}

impl LoadedObject {
    fn entry(&self) -> u64 {
        self.bias.wrapping_add(self.header.entry)
    }

    /// Guest address of the program headers (AT_PHDR).
    fn phdr_addr(&self) -> Option<u64> {
        if let Some(ph) = self.phdrs.iter().find(|p| p.ty == PT_PHDR) {
            return Some(self.bias.wrapping_add(ph.vaddr));
        }
        let phoff = self.header.phoff;
        self.phdrs
            .iter()
            .find(|p| p.ty == PT_LOAD && p.offset <= phoff && phoff < p.offset + p.filesz)
            .map(|p| self.bias.wrapping_add(p.vaddr + (phoff - p.offset)))
    }
}

/// A program loaded into an address space, ready to start.
pub(crate) struct Image {
    pub(crate) entry: u64,
    pub(crate) sp: u64,
    /// The absolute path of the executable actually loaded (the script's interpreter for
    /// `#!`), resolved once here so /proc/[pid]/exe never has to walk a path again (walking
    /// "/proc/self/exe" from its own link would recurse without end).
    pub(crate) exe: Vec<u8>,
    /// argv as the program sees it (an interpreter's argv for `#!`).
    pub(crate) argv: Vec<Vec<u8>>,
    /// The environment it was given.
    pub(crate) envp: Vec<Vec<u8>>,
    /// What the executable's set-id bits give the process once the image is its.
    pub(crate) set_ids: SetIds,
}

impl Image {
    /// Points `ctx`'s registers at the program's entry with a clean register file.
    pub(crate) fn start(&self, ctx: &mut dyn Context) {
        let regs = ctx.regs_mut();
        *regs = UserRegs {
            rip: self.entry,
            rsp: self.sp,
            cs: regs.cs,
            ss: regs.ss,
            ds: regs.ds,
            es: regs.es,
            fs: regs.fs,
            gs: regs.gs,
            eflags: regs.eflags,
            ..UserRegs::default()
        };
    }
}

impl Task {
    /// Starts the first process: argv[0] is looked up in PATH when it has no '/'.
    pub(crate) fn exec_init(
        &mut self,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Result<(), KernelError> {
        let name = argv.first().cloned().unwrap_or_default();
        let path = self.find_in_path(&name, envp);
        let mm = Arc::clone(&self.mm);
        let image = self
            .open_executable(&path)
            .and_then(|file| {
                let program = Executable {
                    file,
                    filename: path.clone(),
                    reopenable: true,
                };
                self.load_image(&mm, program, argv.to_vec(), envp)
            })
            .map_err(|errno| KernelError::Exec {
                path: String::from_utf8_lossy(&path).into_owned(),
                errno,
            })?;
        image.start(self.ctx.as_mut());
        self.image_started(&image);
        Ok(())
    }

    /// execvp's search: the first PATH entry holding `name`, or `name` itself.
    fn find_in_path(&self, name: &[u8], envp: &[Vec<u8>]) -> Vec<u8> {
        if name.contains(&b'/') || name.is_empty() {
            return name.to_vec();
        }
        let path_var = envp
            .iter()
            .find_map(|e| e.strip_prefix(b"PATH="))
            .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
        let ctx = self.lookup_ctx();
        path_var
            .split(|&b| b == b':')
            .map(|dir| {
                let dir = if dir.is_empty() { b".".as_slice() } else { dir };
                [dir, b"/", name].concat()
            })
            .find(|candidate| self.kernel.vfs.stat(&ctx, candidate, true).is_ok())
            .unwrap_or_else(|| name.to_vec())
    }

    /// Loads `program` into `mm`, an empty address space, following `#!` (interpreters are
    /// opened by name).
    pub(crate) fn load_image(
        &self,
        mm: &MemoryManager,
        program: Executable,
        argv: Vec<Vec<u8>>,
        envp: &[Vec<u8>],
    ) -> Result<Image, Errno> {
        let Executable {
            mut file,
            filename: mut path,
            mut reopenable,
        } = program;
        let mut argv = argv;
        for _ in 0..=MAX_SCRIPT_DEPTH {
            let mut head = [0u8; SHEBANG_MAX];
            let n = read_full(&file, &mut head, 0)?;
            let head = &head[..n];
            if head.starts_with(b"#!") {
                if !reopenable {
                    return Err(Errno::ENOENT);
                }
                let (interp, interp_argv) = script_argv(head, &path, argv)?;
                file = self.open_executable(&interp)?;
                path = interp;
                argv = interp_argv;
                reopenable = true;
                continue;
            }
            return self.load_elf(mm, &file, head, path, argv, envp);
        }
        Err(Errno::ELOOP)
    }

    fn load_elf(
        &self,
        mm: &MemoryManager,
        file: &Arc<OpenFile>,
        head: &[u8],
        path: Vec<u8>,
        argv: Vec<Vec<u8>>,
        envp: &[Vec<u8>],
    ) -> Result<Image, Errno> {
        let main = load_object(mm, file, head, Some(PIE_BASE))?;
        let interp = match main.phdrs.iter().find(|p| p.ty == PT_INTERP) {
            Some(ph) => {
                let interp_path = read_interp_path(file, ph)?;
                let interp_file = self.open_executable(&interp_path)?;
                let mut interp_head = [0u8; SHEBANG_MAX];
                let n = read_full(&interp_file, &mut interp_head, 0)?;
                Some(load_object(mm, &interp_file, &interp_head[..n], None)?)
            }
            None => None,
        };
        mm.set_brk_start(main.end);
        // Below the interpreter, as Linux places it without ASLR.
        let vdso = self.kernel.vdso.map(mm)?;

        let stack_top = page_floor(self.kernel.platform.user_address_range().end) - PAGE_SIZE;
        let stack_size = self
            .rlimit(libc::RLIMIT_STACK)
            .cur
            .clamp(MIN_STACK_SIZE, MAX_STACK_SIZE);
        let stack_size = page_ceil(stack_size).ok_or(Errno::ENOMEM)?;
        mm.mmap(MmapRequest {
            addr: stack_top - stack_size,
            len: stack_size,
            prot: Prot::RW,
            fixed: true,
            fixed_noreplace: false,
            shared: false,
            file: None,
            grows_down: true,
        })?;

        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|_| Errno::EIO)?;
        let set_ids = SetIds::of_file(&file.stat()?, self.handle.settings.lock().no_new_privs);
        let mut creds = self.creds();
        creds.apply_exec(set_ids);
        // Linux's secureexec: ld.so then ignores LD_PRELOAD and its kin.
        let secure = creds.euid != creds.ruid || creds.egid != creds.rgid;
        let auxv = stack::Auxv {
            sysinfo_ehdr: vdso,
            phdr: main.phdr_addr().unwrap_or(0),
            phnum: u64::from(main.header.phnum),
            entry: main.entry(),
            base: interp.as_ref().map_or(0, |i| i.bias),
            uid: u64::from(creds.ruid),
            euid: u64::from(creds.euid),
            gid: u64::from(creds.rgid),
            egid: u64::from(creds.egid),
            secure,
        };
        let sp = stack::build(mm, stack_top, &argv, envp, &path, &auxv, &random)?;
        let entry = interp
            .as_ref()
            .map_or_else(|| main.entry(), LoadedObject::entry);
        let exe = file.path().map_or(path, |p| self.kernel.vfs.path_of(p));
        Ok(Image {
            entry,
            sp,
            exe,
            argv,
            envp: envp.to_vec(),
            set_ids,
        })
    }

    /// Opens `path` for execution: a regular file the caller may execute (EACCES otherwise).
    fn open_executable(&self, path: &[u8]) -> Result<Arc<OpenFile>, Errno> {
        self.kernel.vfs.open_exec(&self.lookup_ctx(), path, true)
    }

    /// Records the new image in the process: its name, path and command line.
    pub(crate) fn image_started(&mut self, image: &Image) {
        let name = image
            .argv
            .first()
            .map(|a| a.rsplit(|&b| b == b'/').next().unwrap_or_default())
            .unwrap_or_default();
        *self.handle.comm.lock() = name.iter().copied().take(COMM_LEN).collect();
        let mut state = self.tg().state.lock();
        state.exe = image.exe.clone();
        state.cmdline = image.argv.clone();
        state.environ = image.envp.clone();
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_full(file: &OpenFile, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.pread(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// `#!interp [arg]` → the interpreter and its argv: interp, [arg], script path, argv[1..].
fn script_argv(
    head: &[u8],
    path: &[u8],
    argv: Vec<Vec<u8>>,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), Errno> {
    let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.trim_ascii();
    let (interp, arg) = match line.iter().position(|b| b.is_ascii_whitespace()) {
        Some(i) => (&line[..i], Some(line[i..].trim_ascii())),
        None => (line, None),
    };
    if interp.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    let mut new_argv = vec![interp.to_vec()];
    new_argv.extend(arg.filter(|a| !a.is_empty()).map(<[u8]>::to_vec));
    new_argv.push(path.to_vec());
    new_argv.extend(argv.into_iter().skip(1));
    Ok((interp.to_vec(), new_argv))
}

fn read_interp_path(file: &OpenFile, ph: &ProgramHeader) -> Result<Vec<u8>, Errno> {
    let len = usize::try_from(ph.filesz).map_err(|_| Errno::ENOEXEC)?;
    if len == 0 || len > crate::syscalls::PATH_MAX {
        return Err(Errno::ENOEXEC);
    }
    let mut buf = vec![0; len];
    if read_full(file, &mut buf, ph.offset)? != len {
        return Err(Errno::ENOEXEC);
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(len);
    buf.truncate(end);
    Ok(buf)
}

fn prot_of(flags: u32) -> Prot {
    Prot {
        read: flags & PF_R != 0,
        write: flags & PF_W != 0,
        exec: flags & PF_X != 0,
    }
}

/// Maps an ELF object's PT_LOAD segments. `pie_base` is where an ET_DYN object goes (None:
/// wherever mm places it, as for the interpreter).
fn load_object(
    mm: &MemoryManager,
    file: &Arc<OpenFile>,
    head: &[u8],
    pie_base: Option<u64>,
) -> Result<LoadedObject, Errno> {
    let header = FileHeader::parse(head)?;
    let mut table = vec![0u8; header.phdrs_len()];
    if read_full(file, &mut table, header.phoff)? != table.len() {
        return Err(Errno::ENOEXEC);
    }
    let phdrs = elf::parse_phdrs(&table)?;
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|p| p.ty == PT_LOAD).collect();
    let first = loads.first().ok_or(Errno::ENOEXEC)?;
    let lowest = page_floor(first.vaddr);
    let highest = loads
        .iter()
        .map(|p| p.vaddr.checked_add(p.memsz).ok_or(Errno::ENOEXEC))
        .try_fold(0u64, |acc, end| end.map(|e| acc.max(e)))?;
    let span = page_ceil(highest).ok_or(Errno::ENOEXEC)? - lowest;

    // An ET_DYN object first reserves its whole span, so its segments land at fixed offsets
    // from one another wherever the span is placed.
    let bias = if header.ty == ET_DYN {
        let base = mm.mmap(MmapRequest {
            addr: pie_base.unwrap_or(0),
            len: span,
            prot: Prot::NONE,
            fixed: false,
            fixed_noreplace: false,
            shared: false,
            file: None,
            grows_down: false,
        })?;
        base - lowest
    } else {
        0
    };

    let mappable: Arc<dyn MappableFile> = Arc::new(ExecutableFile(Arc::clone(file)));
    for ph in &loads {
        map_segment(mm, &mappable, ph, bias)?;
    }
    let end = page_ceil(bias + highest).ok_or(Errno::ENOEXEC)?;
    Ok(LoadedObject {
        bias,
        header,
        phdrs,
        end,
    })
}

fn map_segment(
    mm: &MemoryManager,
    file: &Arc<dyn MappableFile>,
    ph: &ProgramHeader,
    bias: u64,
) -> Result<(), Errno> {
    if ph.vaddr % PAGE_SIZE != ph.offset % PAGE_SIZE || ph.filesz > ph.memsz {
        return Err(Errno::ENOEXEC);
    }
    let prot = prot_of(ph.flags);
    let start = page_floor(bias + ph.vaddr);
    let file_end = bias + ph.vaddr + ph.filesz;
    let mem_end = bias + ph.vaddr + ph.memsz;
    let file_map_end = page_ceil(file_end).ok_or(Errno::ENOEXEC)?;
    let mem_map_end = page_ceil(mem_end).ok_or(Errno::ENOEXEC)?;
    let fixed = |addr, len, file| MmapRequest {
        addr,
        len,
        prot,
        fixed: true,
        fixed_noreplace: false,
        shared: false,
        file,
        grows_down: false,
    };
    if ph.filesz > 0 {
        mm.mmap(fixed(
            start,
            file_map_end - start,
            Some((Arc::clone(file), page_floor(ph.offset))),
        ))?;
        // Past the file's bytes, the rest of the last page reads as zero, as Linux's padzero
        // makes it: .bss starts there, and ld.so's early allocator uses the tail beyond _end.
        if file_map_end > file_end && prot.write {
            mm.zero(file_end, file_map_end - file_end)?;
        }
    }
    let anon_start = if ph.filesz > 0 { file_map_end } else { start };
    if mem_map_end > anon_start {
        mm.mmap(fixed(anon_start, mem_map_end - anon_start, None))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_interpreter_and_argument() {
        let (interp, argv) = script_argv(
            b"#! /bin/sh  -e \necho hi\n",
            b"/x.sh",
            vec![b"x.sh".to_vec(), b"a".to_vec()],
        )
        .expect("valid script");
        assert_eq!(interp, b"/bin/sh");
        assert_eq!(
            argv,
            vec![
                b"/bin/sh".to_vec(),
                b"-e".to_vec(),
                b"/x.sh".to_vec(),
                b"a".to_vec()
            ]
        );
        assert_eq!(
            script_argv(b"#!\n", b"/x", vec![]).err(),
            Some(Errno::ENOEXEC)
        );
    }
}
