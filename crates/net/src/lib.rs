//! rvisor sockets. AF_UNIX sockets live entirely inside the Sentry ([`unix`]); other address
//! families (TCP/IP through a user-space stack, a host-network mode) are to come.
//!
//! Operations never sleep here: one that must wait asks a [`Blocker`], which the kernel
//! implements for the calling task (its waiter, signals, O_NONBLOCK/MSG_DONTWAIT and the
//! socket's timeouts).
#![forbid(unsafe_code)]

mod block;
pub mod unix;

pub use block::Blocker;
