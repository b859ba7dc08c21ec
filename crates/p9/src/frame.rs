//! Frames: `size[4] type[1] tag[2] body`, where `size` counts the whole frame.

use std::io::{self, Read};

use crate::error::{Error, FrameError, ProtocolError};
use crate::messages::Message;

/// Bytes of the frame header (`size[4] type[1] tag[2]`).
pub const HEADER_SIZE: u32 = 7;

/// The tag of Tversion, which is sent before tags are in use.
pub const NOTAG: u16 = 0xffff;

/// The fid value meaning "no fid" (Tattach's `afid` without authentication).
pub const NOFID: u32 = 0xffff_ffff;

/// One message with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub tag: u16,
    pub message: Message,
}

impl Frame {
    /// Encodes the frame, failing if it would exceed `msize`.
    pub fn encode(&self, msize: u32) -> Result<Vec<u8>, ProtocolError> {
        let mut out = vec![0; 4];
        out.push(self.message.type_number());
        out.extend_from_slice(&self.tag.to_le_bytes());
        self.message.encode_body(&mut out)?;
        let size = u32::try_from(out.len())
            .ok()
            .filter(|size| *size <= msize)
            .ok_or(ProtocolError::FrameTooLarge {
                size: out.len() as u64,
                msize,
            })?;
        out[..4].copy_from_slice(&size.to_le_bytes());
        Ok(out)
    }

    /// Decodes a whole frame (size field included). A frame whose header is readable but whose
    /// body is not still reports its tag.
    pub fn decode(frame: &[u8], msize: u32) -> Result<Frame, FrameError> {
        let no_tag = |source| FrameError { tag: None, source };
        let header: &[u8; 7] = frame
            .get(..7)
            .and_then(|header| header.try_into().ok())
            .ok_or(no_tag(ProtocolError::Truncated))?;
        let size =
            check_size([header[0], header[1], header[2], header[3]], msize).map_err(no_tag)?;
        if frame.len() as u64 != u64::from(size) {
            return Err(no_tag(if (frame.len() as u64) < u64::from(size) {
                ProtocolError::Truncated
            } else {
                ProtocolError::TrailingBytes(frame.len() - size as usize)
            }));
        }
        let tag = u16::from_le_bytes([header[5], header[6]]);
        let message =
            Message::decode_body(header[4], &frame[7..]).map_err(|source| FrameError {
                tag: Some(tag),
                source,
            })?;
        Ok(Frame { tag, message })
    }
}

/// Checks a frame's size field against the header size and `msize`.
fn check_size(size_field: [u8; 4], msize: u32) -> Result<u32, ProtocolError> {
    let size = u32::from_le_bytes(size_field);
    if size < HEADER_SIZE {
        return Err(ProtocolError::FrameTooShort(size));
    }
    if size > msize {
        return Err(ProtocolError::FrameTooLarge {
            size: u64::from(size),
            msize,
        });
    }
    Ok(size)
}

/// Reads one whole frame from `stream`. The size is checked against `msize` before the body is
/// allocated. `Ok(None)` is a clean end of stream between frames.
pub fn read_frame(stream: &mut impl Read, msize: u32) -> Result<Option<Vec<u8>>, Error> {
    let mut size_field = [0; 4];
    let mut filled = 0;
    while filled < size_field.len() {
        match stream.read(&mut size_field[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let size = check_size(size_field, msize)?;
    let mut frame = vec![0; size as usize];
    frame[..4].copy_from_slice(&size_field);
    stream.read_exact(&mut frame[4..])?;
    Ok(Some(frame))
}
