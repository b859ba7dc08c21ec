//! A small emitter of classic BPF programs for seccomp filters.
//!
//! seccompiler can't compare `seccomp_data.instruction_pointer`, which the stub filter needs, so
//! the few instructions it uses are emitted here. A program is a straight line of checks that
//! either fall through or jump to one of two verdicts placed at its end.

use libc::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`: load the 32-bit word at a fixed offset of `seccomp_data`.
const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: `A &= k`.
const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JEQ | BPF_K`: `if A == k`.
const JMP_JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K`: return `k`.
const RET_K: u16 = 0x06;

/// How a check ends the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Kill,
    /// SECCOMP_RET_TRAP: the call is skipped and a SIGSYS raised, which the tracer sees.
    Trap,
}

#[derive(Clone, Copy, Debug)]
enum Insn {
    Load(u32),
    And(u32),
    /// `if A == k` then jump to the verdict, else fall through.
    JumpIfEq(u32, Verdict),
    /// `if A != k` then jump to the verdict, else fall through.
    JumpIfNe(u32, Verdict),
    /// `if A != k` then skip the next `n` instructions, else fall through.
    SkipIfNe(u32, u8),
}

/// A program being built; [`Filter::build`] appends the verdicts. Falling off the last check kills.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    insns: Vec<Insn>,
}

impl Filter {
    /// Loads the 32-bit word at `offset` of `seccomp_data` into the accumulator.
    pub(crate) fn load(&mut self, offset: u32) -> &mut Self {
        self.insns.push(Insn::Load(offset));
        self
    }

    /// Masks the accumulator.
    pub(crate) fn and(&mut self, mask: u32) -> &mut Self {
        self.insns.push(Insn::And(mask));
        self
    }

    /// Kills unless the accumulator equals `value`.
    pub(crate) fn require_eq(&mut self, value: u32) -> &mut Self {
        self.insns.push(Insn::JumpIfNe(value, Verdict::Kill));
        self
    }

    /// Skips the next `n` instructions unless the accumulator equals `value`.
    pub(crate) fn skip_unless_eq(&mut self, value: u32, n: u8) -> &mut Self {
        self.insns.push(Insn::SkipIfNe(value, n));
        self
    }

    /// Traps (SIGSYS) if the accumulator equals `value`.
    pub(crate) fn trap_if_eq(&mut self, value: u32) -> &mut Self {
        self.insns.push(Insn::JumpIfEq(value, Verdict::Trap));
        self
    }

    /// Allows if the accumulator equals `value`.
    pub(crate) fn allow_if_eq(&mut self, value: u32) -> &mut Self {
        self.insns.push(Insn::JumpIfEq(value, Verdict::Allow));
        self
    }

    /// The program: the checks, then `kill` (also reached by falling through), `allow` and
    /// `trap`.
    ///
    /// Panics if the program is too long for an 8-bit jump: programs come from constant lists in
    /// this crate, never from guest data.
    pub(crate) fn build(&self) -> Vec<sock_filter> {
        let kill_at = self.insns.len();
        let allow_at = kill_at + 1;
        let trap_at = kill_at + 2;
        let jump = |from: usize, verdict: Verdict| {
            let target = match verdict {
                Verdict::Kill => kill_at,
                Verdict::Allow => allow_at,
                Verdict::Trap => trap_at,
            };
            u8::try_from(target - from - 1).expect("seccomp filter too long for a BPF jump")
        };
        let mut program: Vec<sock_filter> = self
            .insns
            .iter()
            .enumerate()
            .map(|(at, insn)| match *insn {
                Insn::Load(offset) => stmt(LD_W_ABS, offset),
                Insn::And(mask) => stmt(ALU_AND_K, mask),
                Insn::JumpIfEq(k, verdict) => branch(k, jump(at, verdict), 0),
                Insn::JumpIfNe(k, verdict) => branch(k, 0, jump(at, verdict)),
                Insn::SkipIfNe(k, n) => branch(k, 0, n),
            })
            .collect();
        program.push(stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS));
        program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
        program.push(stmt(RET_K, libc::SECCOMP_RET_TRAP));
        program
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn branch(k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: JMP_JEQ_K,
        jt,
        jf,
        k,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `program` on one input (`seccomp_data` as 32-bit words), as the kernel would (only
    /// the instructions emitted here).
    pub(crate) fn run(program: &[sock_filter], data: &[u32]) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => acc = data[insn.k as usize / 4],
                ALU_AND_K => acc &= insn.k,
                JMP_JEQ_K => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
                RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn checks_jump_to_their_verdicts() {
        let program = Filter::default()
            .load(0)
            .require_eq(7)
            .load(4)
            .and(0xf0)
            .allow_if_eq(0x20)
            .allow_if_eq(0x30)
            .build();
        assert_eq!(run(&program, &[7, 0x25]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&program, &[7, 0x3f]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&program, &[7, 0x45]), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(run(&program, &[8, 0x25]), libc::SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn skips_and_traps() {
        let program = Filter::default()
            .load(0)
            .skip_unless_eq(1, 2)
            .load(4)
            .trap_if_eq(9)
            .load(4)
            .allow_if_eq(9)
            .build();
        assert_eq!(run(&program, &[1, 9]), libc::SECCOMP_RET_TRAP);
        assert_eq!(run(&program, &[2, 9]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&program, &[1, 8]), libc::SECCOMP_RET_KILL_PROCESS);
    }
}
