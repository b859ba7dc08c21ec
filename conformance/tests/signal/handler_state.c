/* What a signal handler starts with: a clean FPU/SSE state (x87 control word 0x37f, MXCSR
 * 0x1f80, registers zero) whatever the interrupted code had, and the interrupted state back
 * after rt_sigreturn even if the handler changed it. And a handler frame that doesn't fit on
 * the alternate signal stack kills the process with SIGSEGV instead of running off its bottom. */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "../check.h"

#define PATTERN 0x0123456789abcdefULL
#define MXCSR_TOWARD_ZERO 0x7f80u
#define FCW_SINGLE_PRECISION 0x007fu

static volatile uint64_t handler_xmm0;
static volatile uint32_t handler_mxcsr;
static volatile uint16_t handler_fcw;

static void fp_handler(int signo) {
    uint64_t xmm0;
    uint32_t mxcsr;
    uint16_t fcw;
    __asm__ volatile("movq %%xmm0, %0" : "=r"(xmm0));
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    handler_xmm0 = xmm0;
    handler_mxcsr = mxcsr;
    handler_fcw = fcw;
    /* Change them all; rt_sigreturn must bring the interrupted ones back. */
    uint32_t other_mxcsr = 0x3f80;
    uint16_t other_fcw = 0x0f7f;
    uint64_t junk = 0x5555aaaa5555aaaaULL;
    __asm__ volatile("ldmxcsr %0" ::"m"(other_mxcsr));
    __asm__ volatile("fldcw %0" ::"m"(other_fcw));
    __asm__ volatile("movq %0, %%xmm0" ::"r"(junk) : "xmm0");
    (void)signo;
}

static void check_fp_state(void) {
    struct sigaction action = {.sa_handler = fp_handler};
    CHECK_OK("sigaction SIGUSR1", sigaction(SIGUSR1, &action, NULL));
    uint32_t saved_mxcsr, mxcsr = MXCSR_TOWARD_ZERO, after_mxcsr;
    uint16_t saved_fcw, fcw = FCW_SINGLE_PRECISION, after_fcw;
    __asm__ volatile("stmxcsr %0" : "=m"(saved_mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(saved_fcw));
    long ret = SYS_tgkill;
    uint64_t after_xmm0;
    /* The signal is delivered as tgkill returns, between the instructions of one asm block, so
     * nothing the compiler emits can touch xmm0 or the control registers in between. */
    __asm__ volatile("ldmxcsr %[mxcsr]\n\t"
                     "fldcw %[fcw]\n\t"
                     "movq %[pattern], %%xmm0\n\t"
                     "syscall\n\t"
                     "movq %%xmm0, %[xmm0]\n\t"
                     "stmxcsr %[after_mxcsr]\n\t"
                     "fnstcw %[after_fcw]"
                     : "+a"(ret), [xmm0] "=&r"(after_xmm0), [after_mxcsr] "=m"(after_mxcsr),
                       [after_fcw] "=m"(after_fcw)
                     : [mxcsr] "m"(mxcsr), [fcw] "m"(fcw), [pattern] "r"((uint64_t)PATTERN),
                       "D"((long)getpid()), "S"((long)gettid()), "d"((long)SIGUSR1)
                     : "rcx", "r11", "xmm0", "memory");
    __asm__ volatile("ldmxcsr %0" ::"m"(saved_mxcsr));
    __asm__ volatile("fldcw %0" ::"m"(saved_fcw));
    CHECK("tgkill", ret == 0, "returned %ld", ret);
    CHECK("handler starts with MXCSR 0x1f80", handler_mxcsr == 0x1f80, "MXCSR %#x",
          handler_mxcsr);
    CHECK("handler starts with x87 control word 0x37f", handler_fcw == 0x37f, "FCW %#x",
          handler_fcw);
    CHECK("handler starts with xmm0 zero", handler_xmm0 == 0, "xmm0 %#llx",
          (unsigned long long)handler_xmm0);
    CHECK("sigreturn restores MXCSR", after_mxcsr == MXCSR_TOWARD_ZERO, "MXCSR %#x",
          after_mxcsr);
    CHECK("sigreturn restores the x87 control word", after_fcw == FCW_SINGLE_PRECISION,
          "FCW %#x", after_fcw);
    CHECK("sigreturn restores xmm0", after_xmm0 == PATTERN, "xmm0 %#llx",
          (unsigned long long)after_xmm0);
}

/* Nested handlers on the alternate stack, each frame below the last. */
#define NESTING 64
#define ALTSTACK_SIZE (16 * 1024)
#define BELOW_ALTSTACK (1024 * 1024)

static volatile int depth;

static void nesting_handler(int signo) {
    if (++depth < NESTING) syscall(SYS_tgkill, getpid(), gettid(), signo);
}

/* In a child: frames pile up on a 16 KiB alternate stack with 1 MiB of writable memory below
 * it; 64 of them can't fit, so the process must die of SIGSEGV before the handler nests that
 * deep (writing below the stack would let all 64 run and the child exit 0). */
static void check_altstack_overflow(void) {
    pid_t child = fork();
    if (child == 0) {
        char *memory = mmap(NULL, BELOW_ALTSTACK + ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) _exit(2);
        stack_t stack = {.ss_sp = memory + BELOW_ALTSTACK, .ss_size = ALTSTACK_SIZE};
        if (sigaltstack(&stack, NULL) != 0) _exit(3);
        struct sigaction action = {.sa_handler = nesting_handler,
                                   .sa_flags = SA_ONSTACK | SA_NODEFER};
        if (sigaction(SIGUSR2, &action, NULL) != 0) _exit(4);
        raise(SIGUSR2);
        _exit(0);
    }
    int status = 0;
    CHECK_OK("waitpid", waitpid(child, &status, 0));
    CHECK("a frame past the alternate stack's bottom kills with SIGSEGV",
          WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}

int main(void) {
    check_fp_state();
    check_altstack_overflow();
    return check_finish();
}
