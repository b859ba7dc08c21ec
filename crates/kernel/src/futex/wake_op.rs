//! FUTEX_WAKE_OP's encoded operation: what to do to the second futex word, and which old
//! values wake the second futex's waiters.

use abi::Errno;

/// `val3` of FUTEX_WAKE_OP, decoded (linux/futex.h FUTEX_OP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WakeOp {
    op: Op,
    oparg: u32,
    cmp: u32,
    cmparg: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Add,
    Or,
    AndNot,
    Xor,
}

/// FUTEX_OP_OPARG_SHIFT: the argument is a bit number (1 << oparg).
const OPARG_SHIFT: u32 = 8;

/// The 12-bit field of `encoded` at `shift`, sign-extended.
fn signed_field(encoded: u32, shift: u32) -> i32 {
    ((encoded >> shift) & 0xfff).cast_signed() << 20 >> 20
}

impl WakeOp {
    /// Decodes `encoded`: ENOSYS for an operation Linux doesn't know (an unknown comparison
    /// is only refused once the operation was done, as on Linux).
    pub(crate) fn decode(encoded: u32) -> Result<WakeOp, Errno> {
        let raw_op = (encoded >> 28) & 0xf;
        let op = match raw_op & !OPARG_SHIFT {
            0 => Op::Set,
            1 => Op::Add,
            2 => Op::Or,
            3 => Op::AndNot,
            4 => Op::Xor,
            _ => return Err(Errno::ENOSYS),
        };
        let mut oparg = signed_field(encoded, 12).cast_unsigned();
        if raw_op & OPARG_SHIFT != 0 {
            // Linux masks an out-of-range shift (and complains in its log).
            oparg = 1 << (oparg & 31);
        }
        Ok(WakeOp {
            op,
            oparg,
            cmp: (encoded >> 24) & 0xf,
            cmparg: signed_field(encoded, 0),
        })
    }

    /// The word's new value, given its old one.
    pub(crate) fn apply(self, old: u32) -> u32 {
        match self.op {
            Op::Set => self.oparg,
            Op::Add => old.wrapping_add(self.oparg),
            Op::Or => old | self.oparg,
            Op::AndNot => old & !self.oparg,
            Op::Xor => old ^ self.oparg,
        }
    }

    /// Whether the word's old value (as a signed int) passes the comparison; ENOSYS for an
    /// unknown one.
    pub(crate) fn compare(self, old: u32) -> Result<bool, Errno> {
        let old = old.cast_signed();
        Ok(match self.cmp {
            0 => old == self.cmparg,
            1 => old != self.cmparg,
            2 => old < self.cmparg,
            3 => old <= self.cmparg,
            4 => old > self.cmparg,
            5 => old >= self.cmparg,
            _ => return Err(Errno::ENOSYS),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FUTEX_OP(op, oparg, cmp, cmparg) of linux/futex.h.
    fn encode(op: u32, oparg: i32, cmp: u32, cmparg: i32) -> u32 {
        ((op & 0xf) << 28)
            | ((cmp & 0xf) << 24)
            | ((oparg.cast_unsigned() & 0xfff) << 12)
            | (cmparg.cast_unsigned() & 0xfff)
    }

    #[test]
    fn every_operation_changes_the_word_as_linux() {
        let cases = [
            (0, 5, 9, 5),       // SET
            (1, 5, 9, 14),      // ADD
            (1, -1, 9, 8),      // ADD of a negative argument
            (2, 6, 9, 15),      // OR
            (3, 1, 9, 8),       // ANDN
            (4, 3, 9, 10),      // XOR
            (8 | 2, 4, 1, 17),  // OR with OPARG_SHIFT: 1 << 4
            (8, 40, 0, 1 << 8), // SET with a shift past 31, masked
        ];
        for (op, oparg, old, new) in cases {
            let decoded = WakeOp::decode(encode(op, oparg, 0, 0)).expect("known op");
            assert_eq!(decoded.apply(old), new, "op {op} oparg {oparg} on {old}");
        }
        assert_eq!(WakeOp::decode(encode(5, 0, 0, 0)), Err(Errno::ENOSYS));
    }

    #[test]
    fn comparisons_are_signed_and_unknown_ones_refused() {
        let compare = |cmp, cmparg, old: i32| {
            WakeOp::decode(encode(0, 0, cmp, cmparg))
                .expect("known op")
                .compare(old.cast_unsigned())
        };
        assert_eq!(compare(0, 3, 3), Ok(true));
        assert_eq!(compare(1, 3, 3), Ok(false));
        assert_eq!(compare(2, 0, -1), Ok(true), "-1 < 0 as an int");
        assert_eq!(compare(3, -2, -2), Ok(true), "cmparg sign-extended");
        assert_eq!(compare(4, 1, 2), Ok(true));
        assert_eq!(compare(5, 2, 1), Ok(false));
        assert_eq!(compare(6, 0, 0), Err(Errno::ENOSYS));
    }
}
