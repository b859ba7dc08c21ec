//! The 9P wire encoding of field types: little-endian integers, `u16`-counted strings,
//! `u32`-counted data, `u16`-counted arrays, and qids.
//!
//! Every message struct is a sequence of fields whose types implement [`Wire`], so a message's
//! codec is derived from its field list (see `messages.rs`) instead of written by hand.

use crate::error::ProtocolError;
use crate::Qid;

/// A type with a 9P wire encoding.
pub trait Wire: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError>;
    /// Decodes one value from the front of `input`.
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError>;
}

/// A cursor over the body of one frame. Every read is bounds-checked against the frame, so no
/// count in a message can make a decoder allocate more than the frame holds.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// Takes the next `len` bytes, or fails if the frame is shorter.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], ProtocolError> {
        if len > self.rest.len() {
            return Err(ProtocolError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

macro_rules! wire_integers {
    ($($int:ty),*) => {$(
        impl Wire for $int {
            fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
                out.extend_from_slice(&self.to_le_bytes());
                Ok(())
            }
            fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
                Ok(<$int>::from_le_bytes(input.take_array()?))
            }
        }
    )*};
}

wire_integers!(u8, u16, u32, u64);

/// A string: `u16` length, then that many bytes (not necessarily UTF-8: Linux names are bytes).
impl Wire for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let len =
            u16::try_from(self.len()).map_err(|_| ProtocolError::StringTooLong(self.len()))?;
        len.encode(out)?;
        out.extend_from_slice(self);
        Ok(())
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        let len = u16::decode(input)?;
        Ok(input.take(usize::from(len))?.to_vec())
    }
}

/// Bulk data (Rread, Twrite, Rreaddir): `u32` count, then that many bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Data(pub Vec<u8>);

impl Wire for Data {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let len =
            u32::try_from(self.0.len()).map_err(|_| ProtocolError::DataTooLong(self.0.len()))?;
        len.encode(out)?;
        out.extend_from_slice(&self.0);
        Ok(())
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        let len = usize::try_from(u32::decode(input)?).map_err(|_| ProtocolError::Truncated)?;
        Ok(Data(input.take(len)?.to_vec()))
    }
}

impl Wire for Qid {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        self.ty.encode(out)?;
        self.version.encode(out)?;
        self.path.encode(out)
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        Ok(Qid {
            ty: u8::decode(input)?,
            version: u32::decode(input)?,
            path: u64::decode(input)?,
        })
    }
}

/// Walk names (Twalk) and qids (Rwalk): a `u16` count, then the elements. Elements are pushed as
/// they decode, so a large count with a short frame fails at the frame's end, not at allocation.
fn encode_counted<T: Wire>(items: &[T], out: &mut Vec<u8>) -> Result<(), ProtocolError> {
    let count =
        u16::try_from(items.len()).map_err(|_| ProtocolError::TooManyElements(items.len()))?;
    count.encode(out)?;
    items.iter().try_for_each(|item| item.encode(out))
}

fn decode_counted<T: Wire>(input: &mut Reader<'_>) -> Result<Vec<T>, ProtocolError> {
    let count = u16::decode(input)?;
    (0..count).map(|_| T::decode(input)).collect()
}

impl Wire for Vec<Vec<u8>> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        encode_counted(self, out)
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        decode_counted(input)
    }
}

impl Wire for Vec<Qid> {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        encode_counted(self, out)
    }
    fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        decode_counted(input)
    }
}
