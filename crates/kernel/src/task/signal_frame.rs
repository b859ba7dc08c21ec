//! The x86-64 signal frame: what a handler finds on its stack, and what rt_sigreturn restores.
//!
//! Layout (arch/x86/kernel/signal_64.c): at the new %rsp the return address (the sa_restorer
//! trampoline), then `struct ucontext`, then `siginfo_t`; the XSAVE area sits above them,
//! 64-byte aligned, pointed to by `uc_mcontext.fpstate`.

use abi::{Errno, FpState, SigInfo, UserRegs};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::signals::{sigbit, SigAction, SigStack, SS_AUTODISARM, UNBLOCKABLE};
use super::Task;

/// `struct sigcontext` (amd64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct SigContext {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rax: u64,
    rcx: u64,
    rsp: u64,
    rip: u64,
    eflags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved: [u64; 8],
}

/// The kernel's `struct ucontext` (amd64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct UContext {
    flags: u64,
    link: u64,
    stack: SigStack,
    mcontext: SigContext,
    sigmask: u64,
}

/// uc_flags: the frame has an XSAVE area; %ss is saved and restored strictly.
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;

/// Magic numbers the kernel puts in an XSAVE frame: in the FXSAVE area's software-reserved
/// bytes (offset 464) and just past the XSAVE area.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const FX_SW_BYTES_OFFSET: usize = 464;
const XSTATE_BV_OFFSET: usize = 512;

/// Below the interrupted %rsp a handler must not touch the red zone (128 bytes).
const RED_ZONE: u64 = 128;

/// The flags rt_sigreturn takes back from the frame (FIX_EFLAGS): the arithmetic flags, DF,
/// TF, AC and RF; nothing privileged.
const RESTORABLE_EFLAGS: u64 = 0x0005_0dd5;

/// The flags a handler starts with cleared: DF (string direction) and TF (single step).
const HANDLER_CLEARS_EFLAGS: u64 = 0x0500;

impl SigContext {
    fn from_regs(regs: &UserRegs) -> SigContext {
        SigContext {
            r8: regs.r8,
            r9: regs.r9,
            r10: regs.r10,
            r11: regs.r11,
            r12: regs.r12,
            r13: regs.r13,
            r14: regs.r14,
            r15: regs.r15,
            rdi: regs.rdi,
            rsi: regs.rsi,
            rbp: regs.rbp,
            rbx: regs.rbx,
            rdx: regs.rdx,
            rax: regs.rax,
            rcx: regs.rcx,
            rsp: regs.rsp,
            rip: regs.rip,
            eflags: regs.eflags,
            cs: u16::try_from(regs.cs).unwrap_or_default(),
            ss: u16::try_from(regs.ss).unwrap_or_default(),
            ..SigContext::default()
        }
    }

    fn restore_into(&self, regs: &mut UserRegs) {
        regs.r8 = self.r8;
        regs.r9 = self.r9;
        regs.r10 = self.r10;
        regs.r11 = self.r11;
        regs.r12 = self.r12;
        regs.r13 = self.r13;
        regs.r14 = self.r14;
        regs.r15 = self.r15;
        regs.rdi = self.rdi;
        regs.rsi = self.rsi;
        regs.rbp = self.rbp;
        regs.rbx = self.rbx;
        regs.rdx = self.rdx;
        regs.rax = self.rax;
        regs.rcx = self.rcx;
        regs.rsp = self.rsp;
        regs.rip = self.rip;
        regs.eflags = (regs.eflags & !RESTORABLE_EFLAGS) | (self.eflags & RESTORABLE_EFLAGS);
        // cs and ss stay the user segments they are: a frame can't grant others.
    }
}

/// The XSAVE area as a frame holds it: the kernel's software bytes and trailing magic set.
fn frame_fpstate(fp: &FpState) -> Vec<u8> {
    let mut bytes = fp.0.clone();
    let size = u32::try_from(bytes.len()).unwrap_or_default();
    let xfeatures = bytes
        .get(XSTATE_BV_OFFSET..XSTATE_BV_OFFSET + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    if let Some(sw) = bytes.get_mut(FX_SW_BYTES_OFFSET..FX_SW_BYTES_OFFSET + 20) {
        sw[..4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        sw[4..8].copy_from_slice(&(size + 4).to_le_bytes());
        sw[8..16].copy_from_slice(&xfeatures.to_le_bytes());
        sw[16..20].copy_from_slice(&size.to_le_bytes());
    }
    bytes.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    bytes
}

/// FXSAVE-area offsets and values of the clean state a handler starts with (Linux's
/// init_fpstate): x87 control word 0x37f (all exceptions masked, extended precision, round to
/// nearest), MXCSR 0x1f80 (SSE exceptions masked, round to nearest), every register zero.
const FCW_OFFSET: usize = 0;
const FCW_DEFAULT: u16 = 0x037f;
const MXCSR_OFFSET: usize = 24;
const MXCSR_DEFAULT: u32 = 0x1f80;
/// Past MXCSR_MASK: the x87 and XMM registers, up to the reserved bytes.
const FX_REGISTERS: std::ops::Range<usize> = 32..416;
/// XSTATE_BV bits kept in a handler's state: x87 and SSE (whose clean data is written
/// here) and PKRU (protection keys stay as they are, as on Linux). Every other component's
/// bit is cleared, which makes XRSTOR load its initial state.
const HANDLER_XFEATURES: u64 = 0b11 | 1 << 9;

/// The FPU/extended state a handler starts with: `fp` (for its size and layout) reset to the
/// initial state, as Linux's fpu__clear_user_states does before a handler runs.
fn handler_fpstate(fp: &FpState) -> FpState {
    let mut bytes = fp.0.clone();
    if let Some(control) = bytes.get_mut(..MXCSR_OFFSET) {
        control.fill(0);
    }
    if let Some(registers) = bytes.get_mut(FX_REGISTERS) {
        registers.fill(0);
    }
    if let Some(fcw) = bytes.get_mut(FCW_OFFSET..FCW_OFFSET + 2) {
        fcw.copy_from_slice(&FCW_DEFAULT.to_le_bytes());
    }
    if let Some(mxcsr) = bytes.get_mut(MXCSR_OFFSET..MXCSR_OFFSET + 4) {
        mxcsr.copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    }
    if let Some(bv) = bytes.get_mut(XSTATE_BV_OFFSET..XSTATE_BV_OFFSET + 8) {
        let features = u64::from_le_bytes(bv.try_into().unwrap_or_default());
        bv.copy_from_slice(&(features & HANDLER_XFEATURES).to_le_bytes());
    }
    FpState(bytes)
}

impl Task {
    /// Builds a handler frame for `info` and points the registers at the handler.
    pub(super) fn push_signal_frame(
        &mut self,
        info: &SigInfo,
        action: &SigAction,
    ) -> Result<(), Errno> {
        let regs = *self.ctx.regs();
        let fp = self.ctx.fp_state().map_err(|_| Errno::EFAULT)?;
        // The frame saves the mask to return to (the one a sigsuspend/ppoll-style call
        // replaced, if any); the handler runs under the current one, as on Linux.
        let (mask, current_mask, altstack) = {
            let signals = self.handle.signals.lock();
            (
                signals.saved_mask.unwrap_or(signals.mask),
                signals.mask,
                signals.altstack,
            )
        };
        let on_altstack = altstack.contains(regs.rsp);
        let to_altstack = action.has_flag(libc::SA_ONSTACK)
            && altstack.flags & libc::SS_DISABLE == 0
            && !on_altstack;
        // The guest chose the stack pointer (or the altstack): a frame that would wrap around
        // the address space can't be written, as one over unmapped memory can't (SIGSEGV).
        let top = if to_altstack {
            altstack.sp.checked_add(altstack.size)
        } else {
            regs.rsp.checked_sub(RED_ZONE)
        };
        let fpstate = frame_fpstate(&fp);
        let fpstate_addr = top
            .and_then(|sp| sp.checked_sub(fpstate.len() as u64))
            .ok_or(Errno::EFAULT)?
            & !63;
        let frame_len =
            (8 + std::mem::size_of::<UContext>() + std::mem::size_of::<SigInfo>()) as u64;
        // At handler entry %rsp + 8 is 16-byte aligned, as after a call.
        let frame = fpstate_addr
            .checked_sub(frame_len)
            .and_then(|sp| (sp & !15).checked_sub(8))
            .ok_or(Errno::EFAULT)?;
        // A frame that doesn't fit on the alternate stack it is put on would overwrite what
        // lies below it: Linux gives up on the handler (the process dies of SIGSEGV).
        let on_signal_stack = on_altstack || to_altstack;
        if on_signal_stack && !altstack.contains(frame) {
            return Err(Errno::EFAULT);
        }
        let ucontext_addr = frame + 8;
        let siginfo_addr = ucontext_addr + std::mem::size_of::<UContext>() as u64;

        let mut mcontext = SigContext::from_regs(&regs);
        mcontext.oldmask = mask;
        mcontext.fpstate = fpstate_addr;
        if info.signo == libc::SIGSEGV || info.signo == libc::SIGBUS {
            mcontext.cr2 = info.fields[0];
        }
        let mut stack = altstack;
        if on_signal_stack {
            stack.flags |= libc::SS_ONSTACK;
        }
        let ucontext = UContext {
            flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            link: 0,
            stack,
            mcontext,
            sigmask: mask,
        };

        self.mm.copy_out(fpstate_addr, &fpstate)?;
        self.mm.write_obj(frame, &action.restorer)?;
        self.mm.write_obj(ucontext_addr, &ucontext)?;
        self.mm.write_obj(siginfo_addr, info)?;

        {
            let mut signals = self.handle.signals.lock();
            let mut blocked = current_mask | action.mask;
            if !action.has_flag(libc::SA_NODEFER) {
                blocked |= sigbit(info.signo);
            }
            signals.mask = blocked & !UNBLOCKABLE;
            signals.saved_mask = None;
            if to_altstack && altstack.flags & SS_AUTODISARM != 0 {
                signals.altstack = SigStack::disabled();
            }
        }

        // The handler starts with a clean FPU state; rt_sigreturn restores the saved one.
        self.ctx
            .set_fp_state(&handler_fpstate(&fp))
            .map_err(|_| Errno::EFAULT)?;
        let regs = self.ctx.regs_mut();
        regs.rip = action.handler;
        regs.rsp = frame;
        regs.rdi = u64::from(info.signo.cast_unsigned());
        regs.rsi = siginfo_addr;
        regs.rdx = ucontext_addr;
        regs.rax = 0;
        regs.eflags &= !HANDLER_CLEARS_EFLAGS;
        Ok(())
    }

    /// rt_sigreturn: restores what the handler's frame saved.
    pub(crate) fn sigreturn(&mut self) -> Result<(), Errno> {
        // The handler returned through the restorer, popping the return address.
        let ucontext_addr = self.ctx.regs().rsp;
        let ucontext: UContext = self.mm.read_obj(ucontext_addr)?;
        if ucontext.mcontext.fpstate != 0 {
            let size = self.ctx.fp_state().map_err(|_| Errno::EFAULT)?.0.len();
            let mut bytes = vec![0u8; size];
            self.mm.copy_in(ucontext.mcontext.fpstate, &mut bytes)?;
            self.ctx
                .set_fp_state(&FpState(bytes))
                .map_err(|_| Errno::EFAULT)?;
        }
        ucontext.mcontext.restore_into(self.ctx.regs_mut());
        let mut signals = self.handle.signals.lock();
        signals.mask = ucontext.sigmask & !UNBLOCKABLE;
        if ucontext.stack.flags & libc::SS_DISABLE == 0
            && !signals.altstack.contains(self.ctx.regs().rsp)
        {
            signals.altstack = SigStack {
                flags: 0,
                ..ucontext.stack
            };
        }
        self.regs_replaced = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_structures_have_the_kernel_sizes() {
        assert_eq!(std::mem::size_of::<SigContext>(), 256);
        assert_eq!(std::mem::size_of::<UContext>(), 304);
    }
}
