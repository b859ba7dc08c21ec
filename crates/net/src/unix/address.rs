//! AF_UNIX addresses: `struct sockaddr_un` to and from bytes.

use abi::Errno;

/// `offsetof(struct sockaddr_un, sun_path)`: the family field.
const FAMILY_LEN: usize = 2;
/// `sizeof(sun_path)`.
const SUN_PATH_LEN: usize = 108;

/// Where an AF_UNIX socket is bound, or what it connects or sends to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnixAddress {
    /// No name: an unbound socket, a socketpair end, the client end of a connection.
    #[default]
    Unnamed,
    /// A name in the sandbox's abstract namespace (sun_path starting with a NUL): the bytes
    /// after the NUL, NULs included.
    Abstract(Vec<u8>),
    /// A filesystem path (sun_path up to its first NUL).
    Path(Vec<u8>),
}

impl UnixAddress {
    /// Parses the `addrlen` bytes of a `sockaddr_un` the guest passed. Only the family is
    /// `Unnamed` (bind's autobind request); a family other than AF_UNIX is EINVAL.
    pub fn parse(bytes: &[u8]) -> Result<UnixAddress, Errno> {
        if bytes.len() < FAMILY_LEN || bytes.len() > FAMILY_LEN + SUN_PATH_LEN {
            return Err(Errno::EINVAL);
        }
        let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
        if i32::from(family) != libc::AF_UNIX {
            return Err(Errno::EINVAL);
        }
        let path = &bytes[FAMILY_LEN..];
        Ok(match path.split_first() {
            None => UnixAddress::Unnamed,
            Some((0, name)) => UnixAddress::Abstract(name.to_vec()),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                UnixAddress::Path(path[..end].to_vec())
            }
        })
    }

    /// The `sockaddr_un` getsockname/getpeername return: just the family when unnamed, a path
    /// with its NUL, an abstract name as long as it was bound.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut out = u16::try_from(libc::AF_UNIX)
            .unwrap_or_default()
            .to_ne_bytes()
            .to_vec();
        match self {
            UnixAddress::Unnamed => {}
            UnixAddress::Abstract(name) => {
                out.push(0);
                out.extend_from_slice(name);
            }
            UnixAddress::Path(path) => {
                out.extend_from_slice(path);
                out.push(0);
            }
        }
        out
    }

    /// The source address recvfrom/recvmsg report: nothing at all for an unnamed sender, as
    /// Linux leaves `msg_namelen` 0 then.
    pub fn to_source(&self) -> Vec<u8> {
        match self {
            UnixAddress::Unnamed => Vec::new(),
            named => named.to_sockaddr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(af: i32) -> [u8; 2] {
        u16::try_from(af).expect("a family fits").to_ne_bytes()
    }

    fn sockaddr(path: &[u8]) -> Vec<u8> {
        let mut out = family(libc::AF_UNIX).to_vec();
        out.extend_from_slice(path);
        out
    }

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(UnixAddress::parse(&sockaddr(b"")), Ok(UnixAddress::Unnamed));
        assert_eq!(
            UnixAddress::parse(&sockaddr(b"\0name\0x")),
            Ok(UnixAddress::Abstract(b"name\0x".to_vec()))
        );
        assert_eq!(
            UnixAddress::parse(&sockaddr(b"/tmp/s\0garbage")),
            Ok(UnixAddress::Path(b"/tmp/s".to_vec()))
        );
    }

    #[test]
    fn rejects_bad_family_and_length() {
        let mut inet = sockaddr(b"/x");
        inet[..2].copy_from_slice(&family(libc::AF_INET));
        assert_eq!(UnixAddress::parse(&inet), Err(Errno::EINVAL));
        assert_eq!(UnixAddress::parse(&[1]), Err(Errno::EINVAL));
        assert_eq!(
            UnixAddress::parse(&sockaddr(&[b'a'; 109])),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn round_trips_through_sockaddr() {
        for bytes in [sockaddr(b"\0abs"), sockaddr(b"/tmp/sock\0")] {
            let addr = UnixAddress::parse(&bytes).expect("parse");
            assert_eq!(addr.to_sockaddr(), bytes);
        }
        assert_eq!(UnixAddress::Unnamed.to_sockaddr().len(), 2);
        assert!(UnixAddress::Unnamed.to_source().is_empty());
    }
}
