//! Guest code under the ptrace platform: syscalls, faults and signals come back as traps, and
//! nothing the guest asks for happens on the host.

use std::os::unix::fs::FileExt;

use crate::common::{Guest, CODE_ADDR, DATA_OFFSET};
use platform::{Access, Trap};

/// `mov $39,%eax; syscall` (getpid), then `mov %rax,%rdi; mov $60,%eax; syscall` (exit(rax)).
const GETPID_THEN_EXIT: &[u8] = &[
    0xb8, 39, 0, 0, 0, // mov $39, %eax
    0x0f, 0x05, // syscall
    0x48, 0x89, 0xc7, // mov %rax, %rdi
    0xb8, 60, 0, 0, 0, // mov $60, %eax
    0x0f, 0x05, // syscall
];

#[test]
fn syscall_traps_and_return_value_reaches_the_guest() {
    let Some(mut guest) = Guest::new(GETPID_THEN_EXIT) else {
        return;
    };
    let ctx = &mut guest.context;
    assert_eq!(ctx.switch().expect("switch"), Trap::Syscall);
    assert_eq!(ctx.regs().orig_rax, 39);
    assert_eq!(
        ctx.regs().rip,
        CODE_ADDR + 7,
        "rip is past the syscall instruction"
    );
    ctx.set_return(1234);
    assert_eq!(ctx.switch().expect("switch"), Trap::Syscall);
    assert_eq!(ctx.regs().orig_rax, 60);
    assert_eq!(ctx.regs().rdi, 1234);
}

#[test]
fn guest_syscall_has_no_host_effect() {
    // mkdir(rdi = path, 0755): if the host ran it, the directory would appear.
    let code = [
        0xb8, 83, 0, 0, 0, // mov $83, %eax
        0xbe, 0xed, 0x01, 0, 0, // mov $0755, %esi
        0x0f, 0x05, // syscall
    ];
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "rvisor-ptrace-mkdir-{}-{nanos}",
        std::process::id()
    ));
    let mut c_path = path.as_os_str().as_encoded_bytes().to_vec();
    c_path.push(0);
    guest
        .memory
        .write_all_at(&c_path, DATA_OFFSET)
        .expect("write path");
    guest.context.regs_mut().rdi = CODE_ADDR + DATA_OFFSET;

    assert_eq!(guest.context.switch().expect("switch"), Trap::Syscall);
    assert_eq!(guest.context.regs().orig_rax, 83);
    assert_eq!(
        guest.context.regs().syscall_args()[0],
        CODE_ADDR + DATA_OFFSET
    );
    assert!(
        !path.exists(),
        "the guest's mkdir ran on the host: {}",
        path.display()
    );
}

#[test]
fn load_from_unmapped_address_is_a_fault() {
    let code = [0x48, 0x8b, 0x03]; // mov (%rbx), %rax
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    let unmapped = 0x5000_0000;
    guest.context.regs_mut().rbx = unmapped;
    match guest.context.switch().expect("switch") {
        Trap::Fault {
            addr,
            access,
            signo,
            ..
        } => {
            assert_eq!(addr, unmapped);
            assert_eq!(access, Access::Read);
            assert_eq!(signo, libc::SIGSEGV);
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert_eq!(
        guest.context.regs().rip,
        CODE_ADDR,
        "rip stays at the faulting instruction"
    );
}

#[test]
fn jump_to_unmapped_address_is_an_exec_fault() {
    let Some(mut guest) = Guest::new(&[]) else {
        return;
    };
    let unmapped = 0x6000_0000;
    guest.context.regs_mut().rip = unmapped;
    match guest.context.switch().expect("switch") {
        Trap::Fault { addr, access, .. } => {
            assert_eq!(addr, unmapped);
            assert_eq!(access, Access::Exec);
        }
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn ud2_is_sigill() {
    let Some(mut guest) = Guest::new(&[0x0f, 0x0b]) else {
        return;
    };
    match guest.context.switch().expect("switch") {
        Trap::Signal { signo, addr, .. } => {
            assert_eq!(signo, libc::SIGILL);
            assert_eq!(addr, CODE_ADDR);
        }
        other => panic!("expected SIGILL, got {other:?}"),
    }
}

#[test]
fn unmapped_guest_code_faults_after_unmap() {
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]; // 1: mov $39,%eax; syscall; jmp 1b
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    assert_eq!(guest.context.switch().expect("switch"), Trap::Syscall);
    let space = guest.context.address_space();
    space.unmap(CODE_ADDR, crate::common::PAGE).expect("unmap");
    match guest.context.switch().expect("switch") {
        Trap::Fault { addr, access, .. } => {
            assert_eq!((addr, access), (CODE_ADDR + 7, Access::Exec))
        }
        other => panic!("expected an exec fault, got {other:?}"),
    }
    space
        .map_file(CODE_ADDR, crate::common::PAGE, 0, platform::Prot::READ)
        .expect("map read-only");
    match guest.context.switch().expect("switch") {
        Trap::Fault { addr, access, .. } => {
            assert_eq!((addr, access), (CODE_ADDR + 7, Access::Exec))
        }
        other => panic!("expected an exec fault on a non-exec page, got {other:?}"),
    }
    space
        .protect(CODE_ADDR, crate::common::PAGE, platform::Prot::RWX)
        .expect("mprotect");
    assert_eq!(guest.context.switch().expect("switch"), Trap::Syscall);
    assert_eq!(guest.context.regs().orig_rax, 39);
}

#[test]
fn mapping_over_the_stub_page_is_refused() {
    let Some(guest) = Guest::new(&[]) else { return };
    let space = guest.context.address_space();
    let stub = platform_ptrace::STUB_ADDR;
    assert!(space
        .map_file(stub, crate::common::PAGE, 0, platform::Prot::RW)
        .is_err());
    assert!(space
        .unmap(stub - crate::common::PAGE, 2 * crate::common::PAGE)
        .is_err());
    assert!(space
        .protect(0, crate::common::PAGE, platform::Prot::RW)
        .is_err());
}
