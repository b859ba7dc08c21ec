/* Signal bookkeeping without delivery: sigaction and sigprocmask record, report and refuse what
 * Linux does; an ignored signal sent to oneself is discarded. */
#include "../check.h"

#include <signal.h>
#include <sys/syscall.h>

static void handler(int signal)
{
	(void)signal;
}

/* rt_sigaction/rt_sigprocmask take the kernel's 8-byte sigset, not glibc's 128-byte one. */
#define KERNEL_SIGSET_SIZE 8

int main(void)
{
	struct sigaction action = {0}, old = {0};
	action.sa_handler = handler;
	action.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&action.sa_mask);
	sigaddset(&action.sa_mask, SIGUSR2);
	CHECK("sigaction_default_before", sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL,
	      "SIGUSR1 does not start at SIG_DFL");
	CHECK_OK("sigaction_install", sigaction(SIGUSR1, &action, NULL));
	struct sigaction read_back = {0};
	CHECK("sigaction_read_back",
	      sigaction(SIGUSR1, NULL, &read_back) == 0 && read_back.sa_handler == handler &&
		      (read_back.sa_flags & (SA_RESTART | SA_NODEFER)) == (SA_RESTART | SA_NODEFER) &&
		      sigismember(&read_back.sa_mask, SIGUSR2) == 1 && sigismember(&read_back.sa_mask, SIGINT) == 0,
	      "handler, flags %#x or mask not kept", read_back.sa_flags);
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	CHECK("sigaction_returns_old", sigaction(SIGUSR1, &ignore, &old) == 0 && old.sa_handler == handler,
	      "the previous handler was not returned");
	CHECK_OK("kill_self_ignored", kill(getpid(), SIGUSR1));
	CHECK_OK("raise_ignored", raise(SIGUSR1));
	CHECK_ERRNO("sigaction_sigkill", sigaction(SIGKILL, &action, NULL), EINVAL);
	CHECK_ERRNO("sigaction_sigstop", sigaction(SIGSTOP, &action, NULL), EINVAL);
	CHECK_OK("sigaction_query_sigkill", sigaction(SIGKILL, NULL, &old));
	CHECK_ERRNO("sigaction_signal_zero", syscall(SYS_rt_sigaction, 0, NULL, &old, KERNEL_SIGSET_SIZE), EINVAL);
	CHECK_ERRNO("sigaction_signal_65", syscall(SYS_rt_sigaction, 65, NULL, &old, KERNEL_SIGSET_SIZE), EINVAL);
	CHECK_ERRNO("rt_sigaction_bad_sigset_size", syscall(SYS_rt_sigaction, SIGUSR1, NULL, &old, 4), EINVAL);
	CHECK_ERRNO("rt_sigaction_bad_pointer", syscall(SYS_rt_sigaction, SIGUSR1, (void *)1, NULL, KERNEL_SIGSET_SIZE),
		    EFAULT);

	sigset_t set, current;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGKILL);
	sigaddset(&set, SIGSTOP);
	CHECK_OK("sigprocmask_block", sigprocmask(SIG_BLOCK, &set, NULL));
	CHECK("sigprocmask_blocked", sigprocmask(SIG_BLOCK, NULL, &current) == 0 && sigismember(&current, SIGUSR1) == 1,
	      "SIGUSR1 not blocked");
	CHECK("sigkill_sigstop_unblockable", sigismember(&current, SIGKILL) == 0 && sigismember(&current, SIGSTOP) == 0,
	      "SIGKILL or SIGSTOP was blocked");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK("sigprocmask_setmask", sigprocmask(SIG_SETMASK, &set, &current) == 0 && sigismember(&current, SIGUSR1) == 1,
	      "SIG_SETMASK did not return the old mask");
	CHECK("sigprocmask_setmask_replaced",
	      sigprocmask(SIG_UNBLOCK, NULL, &current) == 0 && sigismember(&current, SIGUSR1) == 0 &&
		      sigismember(&current, SIGUSR2) == 1,
	      "SIG_SETMASK did not replace the mask");
	CHECK("sigprocmask_unblock", sigprocmask(SIG_UNBLOCK, &set, NULL) == 0 &&
					     sigprocmask(SIG_BLOCK, NULL, &current) == 0 &&
					     sigismember(&current, SIGUSR2) == 0,
	      "SIGUSR2 still blocked");
	CHECK_ERRNO("sigprocmask_bad_how", syscall(SYS_rt_sigprocmask, 99, &set, NULL, KERNEL_SIGSET_SIZE), EINVAL);
	CHECK_ERRNO("sigprocmask_bad_sigset_size", syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 16), EINVAL);
	CHECK_ERRNO("sigprocmask_bad_pointer", syscall(SYS_rt_sigprocmask, SIG_BLOCK, (void *)1, NULL, KERNEL_SIGSET_SIZE),
		    EFAULT);

	static char alternate[65536];
	stack_t stack = {.ss_sp = alternate, .ss_size = sizeof(alternate), .ss_flags = 0};
	stack_t old_stack;
	CHECK("sigaltstack_initially_disabled", sigaltstack(NULL, &old_stack) == 0 && (old_stack.ss_flags & SS_DISABLE),
	      "flags %#x", old_stack.ss_flags);
	CHECK_OK("sigaltstack_set", sigaltstack(&stack, NULL));
	CHECK("sigaltstack_read_back", sigaltstack(NULL, &old_stack) == 0 && old_stack.ss_sp == alternate &&
					       old_stack.ss_size == sizeof(alternate) && old_stack.ss_flags == 0,
	      "stack not recorded");
	stack_t tiny = {.ss_sp = alternate, .ss_size = 64, .ss_flags = 0};
	CHECK_ERRNO("sigaltstack_too_small", sigaltstack(&tiny, NULL), ENOMEM);
	stack_t bad_flags = {.ss_sp = alternate, .ss_size = sizeof(alternate), .ss_flags = 0x1234};
	CHECK_ERRNO("sigaltstack_bad_flags", sigaltstack(&bad_flags, NULL), EINVAL);
	return check_finish();
}
