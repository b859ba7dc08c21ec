//! Random values of every message field type, for the round-trip property tests.

use proptest::prelude::Rng;

use crate::wire::Data;
use crate::Qid;

/// A type of which a random value can be drawn.
pub trait Sample {
    fn sample(rng: &mut dyn Rng) -> Self;
}

macro_rules! sample_integers {
    ($($int:ty),*) => {$(
        impl Sample for $int {
            fn sample(rng: &mut dyn Rng) -> Self {
                let mut bytes = [0; size_of::<$int>()];
                rng.fill_bytes(&mut bytes);
                <$int>::from_le_bytes(bytes)
            }
        }
    )*};
}

sample_integers!(u8, u16, u32, u64);

/// A length that is usually small but sometimes reaches `max`.
fn sample_len(rng: &mut dyn Rng, max: usize) -> usize {
    let bound = if rng.next_u32().is_multiple_of(8) {
        max
    } else {
        16
    };
    rng.next_u32() as usize % (bound + 1)
}

fn sample_bytes(rng: &mut dyn Rng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0; sample_len(rng, max)];
    rng.fill_bytes(&mut bytes);
    bytes
}

impl Sample for Vec<u8> {
    fn sample(rng: &mut dyn Rng) -> Self {
        sample_bytes(rng, 300)
    }
}

impl Sample for Data {
    fn sample(rng: &mut dyn Rng) -> Self {
        Data(sample_bytes(rng, 70_000))
    }
}

impl Sample for Qid {
    fn sample(rng: &mut dyn Rng) -> Self {
        Qid {
            ty: Sample::sample(rng),
            version: Sample::sample(rng),
            path: Sample::sample(rng),
        }
    }
}

macro_rules! sample_counted {
    ($($element:ty),*) => {$(
        impl Sample for Vec<$element> {
            fn sample(rng: &mut dyn Rng) -> Self {
                (0..sample_len(rng, 20)).map(|_| <$element>::sample(rng)).collect()
            }
        }
    )*};
}

sample_counted!(Vec<u8>, Qid);
