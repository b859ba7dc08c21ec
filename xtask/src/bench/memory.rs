//! The peak memory of a sandbox's Sentry and Gofer: the sum of their `VmHWM`, sampled from /proc
//! while the sandbox runs (the kernel keeps the high-water mark, so the last sample before a
//! process exits is its peak).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the watcher samples: well below the sandbox's lifetime (a `sleep 1`).
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Watches the grandchildren of this process (the Sentry and Gofer under the `runsc do` that
/// xtask runs) until [`SandboxMemoryWatch::finish`].
pub struct SandboxMemoryWatch {
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<HashMap<u32, u64>>,
}

impl SandboxMemoryWatch {
    pub fn start() -> SandboxMemoryWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || sample_until(&stop))
        };
        SandboxMemoryWatch { stop, sampler }
    }

    /// The sum of the peaks of every Sentry and Gofer seen, in bytes; an error if none was.
    pub fn finish(self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        let peaks = self
            .sampler
            .join()
            .map_err(|_| "the memory sampler panicked".to_owned())?;
        if peaks.is_empty() {
            return Err("no Sentry or Gofer process was seen under the sandbox".to_owned());
        }
        Ok(peaks.values().sum())
    }
}

/// Peak `VmHWM` in bytes of each sandbox process seen, by pid.
fn sample_until(stop: &AtomicBool) -> HashMap<u32, u64> {
    let mut peaks = HashMap::new();
    let ourselves = std::process::id();
    while !stop.load(Ordering::Relaxed) {
        for sandbox in children(ourselves) {
            for process in children(sandbox) {
                if !is_sentry_or_gofer(process) {
                    continue;
                }
                if let Some(high_water) = high_water_mark(process) {
                    let peak = peaks.entry(process).or_insert(0);
                    *peak = high_water.max(*peak);
                }
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    peaks
}

/// The children of `pid`, from every one of its threads (a Go runsc forks from any thread).
fn children(pid: u32) -> Vec<u32> {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    threads
        .flatten()
        .filter_map(|thread| std::fs::read_to_string(thread.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|child| child.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Both runscs start their Sentry with a `boot` argument and their Gofer with a `gofer`
/// argument (ours as subcommands of /proc/self/exe; gVisor's as `runsc-sandbox ... boot` and
/// `runsc-gofer ... gofer`). Arguments after `--` are the guest's, not the runsc's.
fn is_sentry_or_gofer(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| names_sentry_or_gofer(&cmdline))
}

fn names_sentry_or_gofer(cmdline: &[u8]) -> bool {
    cmdline
        .split(|&byte| byte == 0)
        .take_while(|arg| *arg != b"--")
        .any(|arg| arg == b"boot" || arg == b"gofer")
}

/// `VmHWM` of `pid` in bytes (`None` once it has exited).
fn high_water_mark(pid: u32) -> Option<u64> {
    parse_high_water_mark(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_high_water_mark(status: &str) -> Option<u64> {
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_water_mark_is_read_in_bytes() {
        let status = "Name:\tsleep\nVmPeak:\t    8000 kB\nVmHWM:\t    1968 kB\nVmRSS:\t 1900 kB\n";
        assert_eq!(parse_high_water_mark(status), Some(1968 * 1024));
        assert_eq!(parse_high_water_mark("Name:\tzombie\n"), None);
    }

    #[test]
    fn sentry_and_gofer_are_told_by_their_arguments() {
        let ours_boot =
            b"/proc/self/exe\0--platform\0ptrace\0boot\0--gofer-fd\x003\0--\0/bin/sleep\0";
        let gvisor_gofer = b"runsc-gofer\0--root=/tmp/r\0gofer\0--bundle\0/tmp/b\0";
        let guest_named_boot = b"/usr/bin/runsc\0do\0--\0boot\0";
        assert!(names_sentry_or_gofer(ours_boot));
        assert!(names_sentry_or_gofer(gvisor_gofer));
        assert!(!names_sentry_or_gofer(guest_named_boot));
        assert!(!names_sentry_or_gofer(b""));
    }

    #[test]
    fn our_own_high_water_mark_is_readable() {
        let ours = high_water_mark(std::process::id()).expect("VmHWM of this process");
        assert!(ours > 0);
    }
}
