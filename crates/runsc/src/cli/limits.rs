//! The sandbox's resource limits: `--tmpfs-size`, `--memory`, `--pids`, and their defaults,
//! taken from what the host has.

use clap::Args;

/// Limits `runsc do` takes, resolves and hands on to `runsc boot` in the sandbox spec.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitArgs {
    /// How much the guest may write to its filesystem (bytes, or with a k/m/g/t suffix): the
    /// size of the root overlay's in-memory layer (of /tmp's tmpfs with --read-only); writing
    /// past it is ENOSPC [default: half of the host's memory, as Linux's tmpfs].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub tmpfs_size: Option<u64>,

    /// Memory the guest's processes may use in all (bytes, or with a k/m/g/t suffix); past it
    /// the largest process is killed, as by Linux's OOM killer [default: the host's memory].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,

    /// Most tasks (threads) the sandbox may have at once; past it fork and clone fail with
    /// EAGAIN [default: a quarter of the host's task limit, each guest task costing two].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub pids: Option<u32>,
}

impl LimitArgs {
    /// The limits, with the host-derived default for each one not given.
    pub fn resolve(&self) -> kernel::Limits {
        let host_memory = host_memory_bytes();
        kernel::Limits {
            tmpfs_size: self.tmpfs_size.unwrap_or(host_memory / 2),
            memory: self.memory.unwrap_or(host_memory),
            max_tasks: self.pids.unwrap_or_else(default_max_tasks),
        }
    }
}

/// `N`, `Nk`, `Nm`, `Ng` or `Nt` (binary multiples, either case, an optional trailing `b`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, shift) = match digits.char_indices().last() {
        Some((at, 'k')) => (&digits[..at], 10),
        Some((at, 'm')) => (&digits[..at], 20),
        Some((at, 'g')) => (&digits[..at], 30),
        Some((at, 't')) => (&digits[..at], 40),
        _ => (digits, 0),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("not a size: {text:?} (expected e.g. 4096, 512m, 2g)"))?;
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("size out of range: {text:?}"))
}

/// The host's physical memory (sysinfo's totalram).
fn host_memory_bytes() -> u64 {
    match nix::sys::sysinfo::sysinfo() {
        Ok(info) => info.ram_total(),
        Err(err) => {
            tracing::warn!(%err, "reading the host's memory size; assuming 4 GiB");
            4 << 30
        }
    }
}

/// A quarter of the fewest tasks the host allows us (RLIMIT_NPROC, threads-max, pid_max):
/// each guest task costs a Sentry thread and a stub thread, and the host keeps half.
fn default_max_tasks() -> u32 {
    let read_number =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let nproc = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC)
        .map(|(soft, _)| soft)
        .unwrap_or(u64::MAX);
    let host_tasks = [
        Some(nproc),
        read_number("/proc/sys/kernel/threads-max"),
        read_number("/proc/sys/kernel/pid_max"),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(u64::MAX);
    u32::try_from(host_tasks / 4).unwrap_or(u32::MAX).max(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        for bad in ["", "m", "0", "-1", "1.5g", "12q", "99999999999t"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
