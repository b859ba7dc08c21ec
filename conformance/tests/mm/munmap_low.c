/* munmap of a range that starts below the lowest mappable address (64 KiB) succeeds and
 * unmaps what lies in it, as on Linux; mprotect of such a range is ENOMEM (not all mapped). */
#include <sys/mman.h>
#include "../check.h"

#define LOW ((void *)0x10000)
#define LEN 0x10000

static void *map_low(void) {
    return mmap(LOW, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                0);
}

int main(void) {
    CHECK("mmap at 64 KiB", map_low() == LOW, "%s", strerror(errno));
    CHECK_ERRNO("mprotect from 60 KiB", mprotect((void *)0xf000, 0x2000, PROT_READ), ENOMEM);
    CHECK_OK("munmap from 0 over it", munmap(NULL, 2 * LEN));
    CHECK_ERRNO("it is gone (mprotect ENOMEM)", mprotect(LOW, 4096, PROT_READ), ENOMEM);
    CHECK("mmap at 64 KiB again", map_low() == LOW, "%s", strerror(errno));
    CHECK_OK("munmap from 60 KiB", munmap((void *)0xf000, 0x2000));
    CHECK_ERRNO("its first page is gone", mprotect(LOW, 4096, PROT_READ), ENOMEM);
    CHECK_OK("its second page is still there", mprotect((char *)LOW + 0x1000, 4096, PROT_READ));
    CHECK_OK("munmap of nothing below 64 KiB", munmap(NULL, 0x8000));
    return check_finish();
}
