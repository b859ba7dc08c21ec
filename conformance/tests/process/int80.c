/* `int $0x80` from 64-bit code is served with the i386 syscall table, as on Linux: eax 20 is
 * getpid (not amd64's writev), 39 is mkdir (not amd64's getpid), arguments come from ebx, ecx,
 * edx. */
#include <stdint.h>
#include <sys/syscall.h>
#include "../check.h"

static long int80(long nr, long a1, long a2, long a3) {
    long ret = nr;
    __asm__ volatile("int $0x80" : "+a"(ret) : "b"(a1), "c"(a2), "d"(a3) : "memory");
    return ret;
}

int main(void) {
    CHECK("eax 20 is getpid", int80(20, 0, 0, 0) == getpid(), "got %ld",
          int80(20, 0, 0, 0));
    CHECK("eax 64 is getppid", int80(64, 0, 0, 0) == getppid(), "got %ld",
          int80(64, 0, 0, 0));
    CHECK("eax 224 is gettid", int80(224, 0, 0, 0) == gettid(), "got %ld",
          int80(224, 0, 0, 0));
    long mkdir_null = int80(39, 0, 0755, 0);
    CHECK("eax 39 is mkdir (EFAULT on a null path), not getpid", mkdir_null == -EFAULT,
          "got %ld", mkdir_null);
    /* The i386 ABI passes 32-bit pointers: a static buffer of this non-PIE static program
     * lies below 4 GiB. */
    static char low[8];
    CHECK("the buffer is below 4 GiB", (uintptr_t)low <= 0xffffffffu, "at %p", (void *)low);
    int fds[2];
    CHECK_OK("pipe", pipe(fds));
    memcpy(low, "int80", 5);
    long written = int80(4, fds[1], (long)(uintptr_t)low, 5);
    char back[8] = {0};
    CHECK("eax 4 is write", written == 5 && read(fds[0], back, sizeof(back)) == 5 &&
                                memcmp(back, "int80", 5) == 0,
          "write returned %ld, read back \"%s\"", written, back);
    long bad_fd = int80(6, -1, 0, 0);
    CHECK("eax 6 is close (EBADF for -1)", bad_fd == -EBADF, "got %ld", bad_fd);
    return check_finish();
}
