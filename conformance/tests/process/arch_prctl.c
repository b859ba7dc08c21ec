/* arch_prctl(ARCH_SET_FS/GS) refuses a base outside the user address range (non-canonical or
 * kernel half) with EPERM, and the base in use stays what it was. */
#include <asm/prctl.h>
#include <sys/syscall.h>
#include "../check.h"

int main(void) {
    unsigned long fs_before = 0, fs_after = 0, gs_before = 0, gs_after = 0;
    CHECK_OK("ARCH_GET_FS", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before));
    CHECK_OK("ARCH_GET_GS", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_before));
    CHECK_ERRNO("ARCH_SET_FS non-canonical",
                syscall(SYS_arch_prctl, ARCH_SET_FS, 0x8000000000000000UL), EPERM);
    CHECK_ERRNO("ARCH_SET_FS just past the lower half",
                syscall(SYS_arch_prctl, ARCH_SET_FS, 0x0000800000000000UL), EPERM);
    CHECK_ERRNO("ARCH_SET_GS kernel half",
                syscall(SYS_arch_prctl, ARCH_SET_GS, 0xffff800000000000UL), EPERM);
    CHECK_OK("ARCH_GET_FS again", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_after));
    CHECK_OK("ARCH_GET_GS again", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_after));
    CHECK("the fs base is unchanged", fs_after == fs_before, "%#lx, was %#lx", fs_after,
          fs_before);
    CHECK("the gs base is unchanged", gs_after == gs_before, "%#lx, was %#lx", gs_after,
          gs_before);
    /* errno lives in TLS: reaching it proves the thread still runs on its fs base. */
    errno = 0;
    CHECK("TLS still works", errno == 0, "errno %d", errno);
    return check_finish();
}
