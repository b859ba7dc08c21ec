//! A `runsc do` running in the background, for tests that act on it while it runs (signals,
//! killing one of its processes) and on the host processes it is made of.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{Status, RUNSC};

/// The environment variable that marks the host processes of one sandbox: runsc's children
/// (the Gofer, the Sentry) inherit runsc's environment.
const MARKER: &str = "RVISOR_TEST_SANDBOX";

/// Long enough for a slow, busy CI machine: a hang guard, not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);

pub struct LiveSandbox {
    runsc: Child,
    stdout: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    marker: String,
}

impl LiveSandbox {
    /// Starts `runsc do ARGS` (flags and command), with `env` added to its environment.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> LiveSandbox {
        let marker = format!("{}-{:?}", std::process::id(), std::thread::current().id());
        let mut runsc = Command::new(RUNSC)
            .arg("do")
            .args(args)
            .env(MARKER, &marker)
            .envs(env.iter().copied())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting runsc do");
        let stdout = BufReader::new(runsc.stdout.take().expect("piped stdout"));
        let mut stderr = runsc.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        LiveSandbox {
            runsc,
            stdout,
            stderr: Some(stderr),
            marker,
        }
    }

    pub fn runsc_pid(&self) -> i32 {
        i32::try_from(self.runsc.id()).expect("pid fits i32")
    }

    /// The next line the guest printed (without its newline); panics at end of output.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("reading the guest's stdout");
        assert!(line.ends_with('\n'), "the guest's output ended: {line:?}");
        line.pop();
        line
    }

    /// Host processes of this sandbox other than runsc: the Gofer and the Sentry (their
    /// environment holds the marker) and the Sentry's stubs (children of its threads).
    pub fn processes(&self) -> Vec<i32> {
        let marker = format!("{MARKER}={}", self.marker);
        let runsc = self.runsc_pid();
        let mut found: Vec<i32> = pids_with_env_entry(&marker)
            .into_iter()
            .filter(|&pid| pid != runsc)
            .collect();
        if let Some(sentry) = self.child_running("boot") {
            found.extend(children_of_threads(sentry));
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// runsc's child whose command line has the subcommand `role` ("gofer", "boot").
    pub fn child_running(&self, role: &str) -> Option<i32> {
        children_of_threads(self.runsc_pid())
            .into_iter()
            .find(|pid| command_line(*pid).iter().any(|arg| arg == role))
    }

    /// The stub processes of guest processes: the Sentry's children traced by a task thread, so
    /// neither the stub factory's template (traced by its "stub-factory" thread) nor the stub it
    /// keeps ready (untraced).
    pub fn stubs(&self) -> Vec<i32> {
        let mut stubs = self
            .child_running("boot")
            .map(children_of_threads)
            .unwrap_or_default();
        stubs.retain(|pid| {
            let tracer = status_field(*pid, "TracerPid:");
            if tracer.is_empty() || tracer == "0" {
                return false;
            }
            let name = std::fs::read_to_string(format!("/proc/{tracer}/comm")).unwrap_or_default();
            name.trim_end() != "stub-factory"
        });
        stubs
    }

    /// Waits until runsc exits (the hang guard kills it after a minute) and returns how, with
    /// what it wrote to stderr.
    pub fn wait(mut self) -> (Status, String) {
        let deadline = Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(status) = self.runsc.try_wait().expect("waiting for runsc") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.runsc.kill();
                let _ = self.runsc.wait();
                panic!("runsc do still running after {HANG_GUARD:?}, killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = self
            .stderr
            .take()
            .expect("stderr reader")
            .join()
            .expect("stderr reader thread");
        eprintln!("runsc do -> {status:?}, stderr:\n{stderr}");
        let status = match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (_, Some(signal)) => Status::Signaled(signal),
            _ => panic!("unknown status {status:?}"),
        };
        (status, stderr)
    }
}

impl Drop for LiveSandbox {
    fn drop(&mut self) {
        // A failed test must not leave its sandbox running (its children die with runsc).
        let _ = self.runsc.kill();
        let _ = self.runsc.wait();
    }
}

/// Waits (a minute at most) until `done` holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether host process `pid` is gone (or a zombie: it has ended, only not been reaped).
pub fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

pub fn command_line(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("reading /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Host processes whose environment holds `entry` (`NAME=VALUE`): what a test's marker, set on
/// runsc, finds of the processes it started (runsc, the Gofer, the Sentry inherit it).
pub fn pids_with_env_entry(entry: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|&b| b == 0)
                    .any(|var| var == entry.as_bytes())
            })
        })
        .collect()
}

/// Children of every thread of process `pid`.
/// A field of /proc/PID/status, empty if the process is gone.
fn status_field(pid: i32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn children_of_threads(pid: i32) -> Vec<i32> {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    threads
        .filter_map(|thread| {
            let path = thread.ok()?.path().join("children");
            std::fs::read_to_string(path).ok()
        })
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}
