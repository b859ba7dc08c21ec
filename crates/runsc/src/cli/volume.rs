//! `--volume HOST:GUEST[:ro]`: a host directory the Gofer serves, mounted in the sandbox.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One `--volume`, parsed but not yet checked against the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeArg {
    pub host: PathBuf,
    /// An absolute path in the sandbox, not `/`.
    pub guest: Vec<u8>,
    pub read_only: bool,
}

impl VolumeArg {
    /// `HOST:GUEST`, `HOST:GUEST:ro` or `HOST:GUEST:rw`. HOST is everything before the first
    /// `:` (a host path with a `:` in it can't be a volume, as with docker's `-v`).
    pub fn parse(text: &OsStr) -> Result<VolumeArg, String> {
        let shown = || text.to_string_lossy().into_owned();
        let bytes = text.as_bytes();
        let (rest, read_only) = match bytes.strip_suffix(b":ro") {
            Some(rest) => (rest, true),
            None => (bytes.strip_suffix(b":rw").unwrap_or(bytes), false),
        };
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| format!("--volume {:?}: expected HOST:GUEST[:ro]", shown()))?;
        let (host, guest) = (&rest[..colon], &rest[colon + 1..]);
        if host.is_empty() {
            return Err(format!("--volume {:?}: the host path is empty", shown()));
        }
        if !guest.starts_with(b"/") {
            return Err(format!(
                "--volume {:?}: the sandbox path must be absolute",
                shown()
            ));
        }
        if guest
            .split(|&b| b == b'/')
            .all(|c| c.is_empty() || c == b".")
        {
            return Err(format!(
                "--volume {:?}: a volume can't cover the sandbox's root",
                shown()
            ));
        }
        if guest.split(|&b| b == b'/').any(|c| c == b"..") || guest.contains(&0) {
            return Err(format!(
                "--volume {:?}: the sandbox path must not hold \"..\" or NUL",
                shown()
            ));
        }
        Ok(VolumeArg {
            host: PathBuf::from(OsStr::from_bytes(host)),
            guest: guest.to_vec(),
            read_only,
        })
    }

    /// The host directory, resolved; an error naming the volume if it is not a directory.
    pub fn resolve_host(&self) -> Result<PathBuf, String> {
        let resolved = self
            .host
            .canonicalize()
            .map_err(|e| format!("--volume {}: {e}", self.host.display()))?;
        if !resolved.is_dir() {
            return Err(format!(
                "--volume {}: not a directory (only directories can be volumes)",
                self.host.display()
            ));
        }
        Ok(resolved)
    }
}

/// The Tattach `aname` under which the Gofer serves volume number `index`: `runsc gofer` and
/// the Sentry agree on it through this function.
pub fn volume_aname(index: usize) -> Vec<u8> {
    format!("volume/{index}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VolumeArg, String> {
        VolumeArg::parse(OsStr::new(text))
    }

    #[test]
    fn volumes_parse_with_an_optional_mode() {
        for (text, host, guest, read_only) in [
            ("/srv/data:/data", "/srv/data", "/data", false),
            ("rel/dir:/mnt/x:ro", "rel/dir", "/mnt/x", true),
            ("/a:/b:rw", "/a", "/b", false),
            ("/a:/b/c:d", "/a", "/b/c:d", false),
        ] {
            let volume = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(volume.host, PathBuf::from(host), "{text}");
            assert_eq!(volume.guest, guest.as_bytes(), "{text}");
            assert_eq!(volume.read_only, read_only, "{text}");
        }
    }

    #[test]
    fn malformed_volumes_are_rejected() {
        for text in [
            "/only-host",
            ":/guest",
            "/host:relative",
            "/host:",
            "/host:/",
            "/host://./",
            "/host:/a/../b",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
