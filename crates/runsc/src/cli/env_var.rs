//! `K=V` environment entries as bytes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// One environment variable: a non-empty name without `=`, and a value (which may hold `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

impl EnvVar {
    /// The `K=V` form, as the guest sees it in its environment block.
    pub fn to_entry(&self) -> Vec<u8> {
        let mut entry = Vec::with_capacity(self.name.len() + 1 + self.value.len());
        entry.extend_from_slice(&self.name);
        entry.push(b'=');
        entry.extend_from_slice(&self.value);
        entry
    }
}

impl TryFrom<OsString> for EnvVar {
    type Error = String;

    fn try_from(entry: OsString) -> Result<EnvVar, String> {
        let entry = entry.into_vec();
        match entry.iter().position(|&b| b == b'=') {
            Some(0) => Err("environment variable has an empty name".to_owned()),
            Some(eq) => Ok(EnvVar {
                name: entry[..eq].to_vec(),
                value: entry[eq + 1..].to_vec(),
            }),
            None => Err(format!(
                "expected NAME=VALUE, got {:?}",
                String::from_utf8_lossy(&entry)
            )),
        }
    }
}
