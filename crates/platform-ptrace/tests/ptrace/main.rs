//! The ptrace platform running real guest code: a few bytes of machine code in a memfd.

mod common;
mod lifetime;
mod threads;
mod traps;
