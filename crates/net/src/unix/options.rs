//! Socket options: what SOL_SOCKET options an AF_UNIX socket keeps, and their encodings.

use std::time::Duration;

use abi::{Errno, Timeval};

/// net.core.wmem_default / rmem_default: the buffer sizes a socket starts with.
pub(crate) const DEFAULT_BUFFER: usize = 212_992;
/// net.core.wmem_max / rmem_max: the most SO_SNDBUF/SO_RCVBUF take (before doubling).
const MAX_BUFFER: usize = 212_992;
/// Linux's SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF on amd64.
const MIN_SNDBUF: usize = 4608;
const MIN_RCVBUF: usize = 2304;

/// The settable SOL_SOCKET options.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) sndbuf: usize,
    pub(crate) rcvbuf: usize,
    /// SO_RCVTIMEO / SO_SNDTIMEO: `None` waits forever.
    pub(crate) rcvtimeo: Option<Duration>,
    pub(crate) sndtimeo: Option<Duration>,
    pub(crate) passcred: bool,
    /// Options AF_UNIX accepts and reports back without acting on them.
    pub(crate) reuseaddr: bool,
    pub(crate) keepalive: bool,
    pub(crate) broadcast: bool,
    pub(crate) oobinline: bool,
    pub(crate) linger: [i32; 2],
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sndbuf: DEFAULT_BUFFER,
            rcvbuf: DEFAULT_BUFFER,
            rcvtimeo: None,
            sndtimeo: None,
            passcred: false,
            reuseaddr: false,
            keepalive: false,
            broadcast: false,
            oobinline: false,
            linger: [0, 0],
        }
    }
}

/// An `int` option's value; EINVAL if shorter than an int.
pub(crate) fn int_value(value: &[u8]) -> Result<i32, Errno> {
    let bytes = value.get(..4).ok_or(Errno::EINVAL)?;
    Ok(i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

pub(crate) fn int_bytes(value: i32) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

pub(crate) fn bool_bytes(value: bool) -> Vec<u8> {
    int_bytes(i32::from(value))
}

/// SO_SNDBUF/SO_RCVBUF: Linux doubles the request (for bookkeeping overhead) within limits.
pub(crate) fn buffer_size(value: &[u8], send: bool) -> Result<usize, Errno> {
    let requested = usize::try_from(int_value(value)?.max(0)).unwrap_or(0);
    let min = if send { MIN_SNDBUF } else { MIN_RCVBUF };
    Ok((requested.min(MAX_BUFFER) * 2).max(min))
}

pub(crate) fn buffer_bytes(size: usize) -> Vec<u8> {
    int_bytes(i32::try_from(size).unwrap_or(i32::MAX))
}

/// Seconds from which SO_RCVTIMEO/SO_SNDTIMEO mean forever: Linux's
/// `MAX_SCHEDULE_TIMEOUT / HZ - 1` (at HZ=1000, where it is lowest).
const FOREVER_SECS: i64 = i64::MAX / 1000 - 1;

/// SO_RCVTIMEO/SO_SNDTIMEO from a `struct timeval`: zero or one too long to count in jiffies
/// waits forever (and reads back as zero, as on Linux), a negative time not at all;
/// microseconds outside a second are EDOM.
pub(crate) fn timeout(value: &[u8]) -> Result<Option<Duration>, Errno> {
    let bytes = value.get(..16).ok_or(Errno::EINVAL)?;
    let field = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        i64::from_ne_bytes(b)
    };
    let tv = Timeval {
        tv_sec: field(0),
        tv_usec: field(8),
    };
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EDOM);
    }
    if tv.tv_sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if (tv.tv_sec == 0 && tv.tv_usec == 0) || tv.tv_sec >= FOREVER_SECS {
        return Ok(None);
    }
    let sec = u64::try_from(tv.tv_sec).unwrap_or(0);
    let usec = u64::try_from(tv.tv_usec).unwrap_or(0);
    Ok(Some(Duration::from_secs(sec) + Duration::from_micros(usec)))
}

pub(crate) fn timeout_bytes(timeout: Option<Duration>) -> Vec<u8> {
    let (sec, usec) = timeout.map_or((0, 0), |t| {
        (
            i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            i64::from(t.subsec_micros()),
        )
    });
    let mut out = sec.to_ne_bytes().to_vec();
    out.extend_from_slice(&usec.to_ne_bytes());
    out
}

/// SO_LINGER's `struct linger { int l_onoff; int l_linger; }`.
pub(crate) fn linger(value: &[u8]) -> Result<[i32; 2], Errno> {
    let bytes = value.get(..8).ok_or(Errno::EINVAL)?;
    Ok([int_value(&bytes[..4])?, int_value(&bytes[4..])?])
}

pub(crate) fn linger_bytes(linger: [i32; 2]) -> Vec<u8> {
    let mut out = int_bytes(linger[0]);
    out.extend_from_slice(&linger[1].to_ne_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeval(sec: i64, usec: i64) -> Vec<u8> {
        let mut out = sec.to_ne_bytes().to_vec();
        out.extend_from_slice(&usec.to_ne_bytes());
        out
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout(&timeval(0, 0)), Ok(None));
        assert_eq!(timeout(&timeval(i64::MAX, 999_999)), Ok(None));
        assert_eq!(timeout(&timeval(-1, 0)), Ok(Some(Duration::ZERO)));
        assert_eq!(
            timeout(&timeval(1, 500_000)),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(timeout(&timeval(1, 1_000_000)), Err(Errno::EDOM));
        assert_eq!(timeout(&[0; 8]), Err(Errno::EINVAL));
        assert_eq!(
            timeout_bytes(Some(Duration::from_millis(1500))),
            timeval(1, 500_000)
        );
    }

    #[test]
    fn buffer_sizes_double_within_limits() {
        assert_eq!(buffer_size(&int_bytes(10_000), true), Ok(20_000));
        assert_eq!(buffer_size(&int_bytes(1), true), Ok(MIN_SNDBUF));
        assert_eq!(buffer_size(&int_bytes(-5), false), Ok(MIN_RCVBUF));
        assert_eq!(buffer_size(&int_bytes(i32::MAX), true), Ok(2 * MAX_BUFFER));
        assert_eq!(buffer_size(&[1, 2], true), Err(Errno::EINVAL));
    }
}
