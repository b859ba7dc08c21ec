//! Every `unsafe` block of the crate: raw ptrace requests into our own types, the fork of a stub,
//! tgkill, the kick's signal handler, and the stub code itself.

mod child;
mod kick;
mod ptrace;
mod signal;
mod stub_code;

#[cfg(test)]
pub(crate) use child::run_in_child_under_filter;
pub(crate) use child::{fill_rseq_slot, fork_stub, ChildFailure, ChildPlan, RseqSlot};
#[cfg(test)]
pub(crate) use kick::kicks_taken;
pub(crate) use kick::{install_kick_handler, kick_signal};
pub(crate) use ptrace::{
    get_regs, get_siginfo, get_xstate, set_regs, set_sigmask, set_xstate, wait_for, xstate_size,
    SigInfo,
};
pub(crate) use signal::{at_exit, kill_and_reap, tgkill};
pub(crate) use stub_code::{map_code_page, stub_code};
