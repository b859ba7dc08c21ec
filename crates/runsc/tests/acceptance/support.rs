//! Running a program natively and under `runsc do`, and the things the tests need for that
//! (static guest binaries built with gcc, Debian's static busybox).

use std::ffi::{OsStr, OsString};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const RUNSC: &str = env!("CARGO_BIN_EXE_runsc");

/// Debian's busybox-static puts it here.
pub const BUSYBOX: &str = "/bin/busybox";

/// Long enough for a slow, busy CI machine; short enough that a hung sandbox fails the test.
const TIMEOUT: Duration = Duration::from_secs(120);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub status: Status,
}

/// A program with arguments and an environment, to run natively and sandboxed alike.
#[derive(Debug, Clone)]
pub struct Run {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    runsc_flags: Vec<OsString>,
}

impl Run {
    pub fn new(program: impl AsRef<OsStr>) -> Run {
        Run {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: vec![("TZ".into(), "UTC".into())],
            runsc_flags: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets a variable of the caller's environment (runsc's, natively the program's).
    pub fn env(mut self, name: &str, value: &str) -> Run {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Adds flags to `runsc do` (only for the sandboxed run).
    pub fn runsc_flags<I, S>(mut self, flags: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.runsc_flags
            .extend(flags.into_iter().map(|flag| flag.as_ref().to_owned()));
        self
    }

    pub fn native(&self) -> Outcome {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        self.run(command)
    }

    pub fn sandboxed(&self) -> Outcome {
        let mut command = Command::new(RUNSC);
        command
            .arg("do")
            .args(&self.runsc_flags)
            .arg(&self.program)
            .args(&self.args);
        self.run(command)
    }

    fn run(&self, mut command: Command) -> Outcome {
        command
            .env_clear()
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let description = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{description}: {err}"));
        let stdout = read_in_background(child.stdout.take());
        let stderr = read_in_background(child.stderr.take());
        let status = wait_with_timeout(&mut child, &description);
        let outcome = Outcome {
            stdout: join_reader(stdout),
            stderr: join_reader(stderr),
            status,
        };
        eprintln!("{description}\n  -> {outcome:?}");
        outcome
    }
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes)
                .expect("reading a child's output");
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join_reader(reader: JoinHandle<String>) -> String {
    reader.join().expect("output reader thread")
}

fn wait_with_timeout(child: &mut Child, description: &str) -> Status {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return match (status.code(), status.signal()) {
                (Some(code), _) => Status::Exited(code),
                (_, Some(signal)) => Status::Signaled(signal),
                _ => panic!("{description}: unknown status {status:?}"),
            };
        }
        if Instant::now() > deadline {
            // runsc's children die with it (PR_SET_PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
            panic!("{description}: still running after {TIMEOUT:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A directory the sandbox (root `/`) sees at the same path: the build's scratch directory,
/// unless that lies under the host's /tmp (a clone under /tmp), which the own tmpfs of a
/// sandbox with --read-only hides; then a directory of this build's own under /var/tmp, which
/// the sandbox shows like the rest of the host's root.
fn visible_in_sandbox() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let scratch = scratch
            .canonicalize()
            .unwrap_or_else(|_| scratch.to_owned());
        if !scratch.starts_with("/tmp") {
            return scratch;
        }
        let mut hasher = DefaultHasher::new();
        scratch.hash(&mut hasher);
        let dir = PathBuf::from(format!("/var/tmp/rvisor-tests-{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        dir
    })
}

/// A temporary directory the sandbox sees at the same path.
pub fn shared_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(visible_in_sandbox()).expect("tempdir in the target directory")
}

/// Whether `program` is on PATH; prints why the test is skipped when not.
fn have_program(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        eprintln!("SKIPPED: {program} is missing (apt-get install {package})");
    }
    found
}

/// Builds `tests/guests/NAME.c` with `gcc -static` (once per test binary run), or None (with
/// the reason printed) when gcc is missing.
pub fn guest(name: &str) -> Option<PathBuf> {
    if !have_program("gcc", "gcc libc6-dev") {
        return None;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(format!("{name}.c"));
    let out_dir = visible_in_sandbox().join("guests");
    std::fs::create_dir_all(&out_dir).expect("creating the guest build directory");
    let binary = out_dir.join(name);
    // Tests run in parallel and may want the same guest: build under a name of our own and
    // rename over the shared one, which is atomic.
    let partial = out_dir.join(format!(
        "{name}.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let output = Command::new("gcc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(&partial)
        .arg(&source)
        .output()
        .expect("running gcc");
    assert!(
        output.status.success(),
        "gcc {}: {}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &binary).expect("renaming the built guest");
    Some(binary)
}

/// Debian's static busybox, or None (with the reason printed) when it is missing or is the
/// dynamically linked one.
pub fn busybox() -> Option<&'static str> {
    match std::fs::read(BUSYBOX) {
        Ok(elf) if is_static_elf(&elf) => Some(BUSYBOX),
        Ok(_) => {
            eprintln!("SKIPPED: {BUSYBOX} is dynamically linked (apt-get install busybox-static)");
            None
        }
        Err(err) => {
            eprintln!("SKIPPED: {BUSYBOX}: {err} (apt-get install busybox-static)");
            None
        }
    }
}

/// A 64-bit ELF without a PT_INTERP program header (no dynamic loader).
fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read_u16 = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let read_u32 = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let read_u64 = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if !elf.starts_with(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (read_u64(0x20), read_u16(0x36), read_u16(0x38))
    else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum))
        .map(|i| read_u32(phoff + i * usize::from(phentsize)))
        .all(|p_type| p_type.is_some_and(|p_type| p_type != PT_INTERP))
}
