use std::io;

/// `EIO`, the errno for failures that have no errno of their own (same value on every Linux
/// architecture; this crate depends on nothing that names it).
const EIO: i32 = 5;

/// Why bytes are not a valid 9P2000.L frame or exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame of {size} bytes exceeds msize {msize}")]
    FrameTooLarge { size: u64, msize: u32 },
    #[error("frame of {0} bytes is shorter than the 7-byte header")]
    FrameTooShort(u32),
    #[error("message body ends early")]
    Truncated,
    #[error("{0} bytes left over after the message body")]
    TrailingBytes(usize),
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("string of {0} bytes does not fit a 16-bit length")]
    StringTooLong(usize),
    #[error("data of {0} bytes does not fit a 32-bit count")]
    DataTooLong(usize),
    #[error("{0} elements do not fit a 16-bit count")]
    TooManyElements(usize),
    #[error("expected {expected} in reply, got {got}")]
    UnexpectedReply {
        expected: &'static str,
        got: &'static str,
    },
    #[error("reply tag {got} does not match request tag {expected}")]
    TagMismatch { expected: u16, got: u16 },
    #[error("server speaks {0:?}, not 9P2000.L")]
    VersionMismatch(String),
    #[error("server msize {0} is too small for any i/o")]
    MsizeTooSmall(u32),
    #[error("server returned {returned} bytes for a request of {requested}")]
    OverlongReply { requested: u32, returned: usize },
    #[error("server wrote none of the {0} bytes left to write")]
    StalledWrite(usize),
    #[error("server walked {walked} names of {requested}")]
    OverlongWalk { requested: usize, walked: usize },
    #[error("reply carried {got} donated descriptors, expected {expected}")]
    DonatedFds { expected: usize, got: usize },
    #[error("all fids are in use")]
    FidsExhausted,
}

/// A failed 9P request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered Rlerror with this Linux errno.
    #[error("9p server returned errno {0}")]
    Remote(u32),
    /// The transport failed.
    #[error("9p transport: {0}")]
    Io(#[from] io::Error),
    /// The peer broke the protocol (or we were asked to send something it cannot carry).
    #[error("9p protocol: {0}")]
    Protocol(#[from] ProtocolError),
}

impl Error {
    /// The Linux errno to report for this failure: the server's own for [`Error::Remote`], the
    /// OS error for [`Error::Io`] when there is one, and `EIO` otherwise.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Remote(errno) => i32::try_from(*errno).unwrap_or(EIO),
            Error::Io(io) => io.raw_os_error().unwrap_or(EIO),
            Error::Protocol(_) => EIO,
        }
    }
}

/// A frame that could not be decoded, with its tag when the header was readable, so a server
/// can still answer that tag with Rlerror.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable 9p frame (tag {tag:?}): {source}")]
pub struct FrameError {
    pub tag: Option<u16>,
    pub source: ProtocolError,
}
