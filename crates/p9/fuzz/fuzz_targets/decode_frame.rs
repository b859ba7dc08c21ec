//! Feeds arbitrary bytes to frame reading and decoding; a decoded frame must re-encode to the
//! same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MSIZE: u32 = 1 << 16;

fuzz_target!(|bytes: &[u8]| {
    let mut stream = bytes;
    while let Ok(Some(frame)) = p9::read_frame(&mut stream, MSIZE) {
        if let Ok(decoded) = p9::Frame::decode(&frame, MSIZE) {
            assert_eq!(decoded.encode(MSIZE).as_deref(), Ok(frame.as_slice()));
        }
    }
});
