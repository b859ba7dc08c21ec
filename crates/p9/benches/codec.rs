//! The 9P codec on the messages of the Sentry's hot file paths: a walk, the reply to a 4 KiB
//! read, and the reply to a getattr (every `stat`).
//!
//! `cargo bench -p p9 --bench codec`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use p9::{Data, Frame, Message, Qid, Rgetattr, Rread, Twalk, GETATTR_BASIC, QID_TYPE_FILE};

/// The Sentry's msize: large enough for every frame here.
const MSIZE: u32 = 1 << 20;

fn representative_frames() -> [(&'static str, Frame); 3] {
    let walk = Twalk {
        fid: 1,
        newfid: 2,
        wnames: vec![b"usr".to_vec(), b"lib".to_vec(), b"libc.so.6".to_vec()],
    };
    let read = Rread {
        data: Data(vec![0xa5; 4096]),
    };
    let getattr = Rgetattr {
        valid: GETATTR_BASIC,
        qid: Qid {
            ty: QID_TYPE_FILE,
            version: 0,
            path: 0x1234_5678,
        },
        mode: 0o100_644,
        nlink: 1,
        size: 1_922_136,
        blksize: 4096,
        blocks: 3760,
        atime_sec: 1_700_000_000,
        mtime_sec: 1_700_000_000,
        ctime_sec: 1_700_000_000,
        ..Rgetattr::default()
    };
    [
        ("Twalk 3 names", frame(walk)),
        ("Rread 4 KiB", frame(read)),
        ("Rgetattr", frame(getattr)),
    ]
}

fn frame(message: impl Into<Message>) -> Frame {
    Frame {
        tag: 7,
        message: message.into(),
    }
}

fn codec(c: &mut Criterion) {
    let mut encode = c.benchmark_group("encode");
    for (name, frame) in representative_frames() {
        let bytes = frame.encode(MSIZE).expect("encode a representative frame");
        encode.throughput(Throughput::Bytes(bytes.len() as u64));
        encode.bench_function(name, |b| b.iter(|| black_box(&frame).encode(MSIZE)));
    }
    encode.finish();

    let mut decode = c.benchmark_group("decode");
    for (name, frame) in representative_frames() {
        let bytes = frame.encode(MSIZE).expect("encode a representative frame");
        // What is measured is a real round trip, not the decoding of an error.
        assert_eq!(Frame::decode(&bytes, MSIZE).expect("decode"), frame);
        decode.throughput(Throughput::Bytes(bytes.len() as u64));
        decode.bench_function(name, |b| b.iter(|| Frame::decode(black_box(&bytes), MSIZE)));
    }
    decode.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
