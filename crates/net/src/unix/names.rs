//! Where AF_UNIX names live: the sandbox's abstract namespace, and socket files in the VFS.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use abi::Errno;
use parking_lot::Mutex;
use vfs::{LookupCtx, Vfs};

use super::endpoint::Endpoint;
use super::{SocketType, UnixAddress};

/// A bound abstract name: names are per socket type.
type NameKey = (SocketType, Vec<u8>);

/// The abstract namespace of one sandbox: names bound with a leading NUL, no file behind them.
/// As on Linux, each socket type has names of its own, and a name is free again once its
/// socket is closed.
#[derive(Default)]
pub struct AbstractNames {
    names: Mutex<HashMap<NameKey, Weak<Endpoint>>>,
    /// Autobind's next candidate, as Linux's 5-hex-digit names.
    next_auto: AtomicU32,
}

/// How many names autobind may choose from ("%05x").
const AUTOBIND_NAMES: u32 = 1 << 20;

impl AbstractNames {
    pub fn new() -> AbstractNames {
        AbstractNames::default()
    }

    fn live(entry: &Weak<Endpoint>) -> Option<Arc<Endpoint>> {
        entry.upgrade().filter(|endpoint| !endpoint.is_closed())
    }

    pub(crate) fn bind(&self, name: &[u8], endpoint: &Arc<Endpoint>) -> Result<(), Errno> {
        let mut names = self.names.lock();
        names.retain(|_, entry| Self::live(entry).is_some());
        let key = (endpoint.ty, name.to_vec());
        if names.contains_key(&key) {
            return Err(Errno::EADDRINUSE);
        }
        names.insert(key, Arc::downgrade(endpoint));
        Ok(())
    }

    /// bind with only a family: a free name of five hex digits.
    pub(crate) fn autobind(&self, endpoint: &Arc<Endpoint>) -> Result<Vec<u8>, Errno> {
        for _ in 0..AUTOBIND_NAMES {
            let n = self.next_auto.fetch_add(1, Ordering::Relaxed) % AUTOBIND_NAMES;
            let name = format!("{n:05x}").into_bytes();
            match self.bind(&name, endpoint) {
                Ok(()) => return Ok(name),
                Err(Errno::EADDRINUSE) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Errno::ENOSPC)
    }

    pub(crate) fn lookup(&self, ty: SocketType, name: &[u8]) -> Option<Arc<Endpoint>> {
        self.names
            .lock()
            .get(&(ty, name.to_vec()))
            .and_then(Self::live)
    }
}

/// What an AF_UNIX name resolves against: the abstract namespace and the filesystem, with the
/// caller's lookup context and umask (the mode of new socket files).
pub struct Namespace<'a> {
    pub abstract_names: &'a AbstractNames,
    pub vfs: &'a Vfs,
    pub lookup: &'a LookupCtx,
    pub umask: u32,
}

impl Namespace<'_> {
    /// Binds `endpoint` to `address`; returns the address it got (autobind picks one).
    pub(crate) fn bind(
        &self,
        address: &UnixAddress,
        endpoint: &Arc<Endpoint>,
    ) -> Result<UnixAddress, Errno> {
        match address {
            UnixAddress::Unnamed => Ok(UnixAddress::Abstract(
                self.abstract_names.autobind(endpoint)?,
            )),
            UnixAddress::Abstract(name) => {
                self.abstract_names.bind(name, endpoint)?;
                Ok(address.clone())
            }
            UnixAddress::Path(path) => {
                let socket: Arc<dyn Any + Send + Sync> = Arc::new(Arc::downgrade(endpoint));
                let mode = 0o777 & !self.umask;
                self.vfs.bind_socket(self.lookup, path, mode, socket)?;
                Ok(address.clone())
            }
        }
    }

    /// The live socket of type `ty` bound to `address`: ECONNREFUSED if none is (a file that is
    /// no socket, a socket since closed), the lookup's error for a missing path, EPROTOTYPE for
    /// a socket file of another type.
    pub(crate) fn resolve(
        &self,
        ty: SocketType,
        address: &UnixAddress,
    ) -> Result<Arc<Endpoint>, Errno> {
        let endpoint = match address {
            UnixAddress::Unnamed => return Err(Errno::EINVAL),
            UnixAddress::Abstract(name) => self.abstract_names.lookup(ty, name),
            UnixAddress::Path(path) => {
                let file = self.vfs.lookup(self.lookup, path, true)?;
                // Connecting writes to the socket: its file's write permission (Linux's
                // unix_find_bsd).
                vfs::permission::check(
                    &self.lookup.creds,
                    file.inode().as_ref(),
                    vfs::permission::MAY_WRITE,
                )?;
                file.inode()
                    .bound_socket()
                    .and_then(|socket| socket.downcast_ref::<Weak<Endpoint>>()?.upgrade())
            }
        };
        let endpoint = endpoint
            .filter(|endpoint| !endpoint.is_closed())
            .ok_or(Errno::ECONNREFUSED)?;
        if endpoint.ty != ty {
            return Err(Errno::EPROTOTYPE);
        }
        Ok(endpoint)
    }
}
