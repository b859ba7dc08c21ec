//! Directory entries as packed in Rreaddir: `qid[13] offset[8] type[1] name[s]`.

use crate::error::ProtocolError;
use crate::wire::{Reader, Wire};
use crate::Qid;

/// One directory entry. `offset` is the value to pass to Treaddir to resume after this entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub qid: Qid,
    pub offset: u64,
    /// The `DT_*` type of the entry.
    pub ty: u8,
    pub name: Vec<u8>,
}

impl DirEntry {
    /// Encodes as many of `entries` as fit in `max_bytes` (whole entries only), returning the
    /// packed bytes for an Rreaddir.
    pub fn pack(entries: &[DirEntry], max_bytes: u32) -> Result<Vec<u8>, ProtocolError> {
        let limit = max_bytes as usize;
        let mut packed = Vec::new();
        for entry in entries {
            let mut one = Vec::new();
            entry.encode(&mut one)?;
            if packed.len() + one.len() > limit {
                break;
            }
            packed.extend_from_slice(&one);
        }
        Ok(packed)
    }

    /// Decodes the packed entries of an Rreaddir.
    pub fn unpack(packed: &[u8]) -> Result<Vec<DirEntry>, ProtocolError> {
        let mut input = Reader::new(packed);
        let mut entries = Vec::new();
        while input.remaining() > 0 {
            entries.push(DirEntry::decode(&mut input)?);
        }
        Ok(entries)
    }
}

impl Wire for DirEntry {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        self.qid.encode(out)?;
        self.offset.encode(out)?;
        self.ty.encode(out)?;
        self.name.encode(out)
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        Ok(DirEntry {
            qid: Qid::decode(input)?,
            offset: u64::decode(input)?,
            ty: u8::decode(input)?,
            name: Vec::decode(input)?,
        })
    }
}
