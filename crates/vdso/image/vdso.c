/*
 * rvisor's vDSO: clock_gettime, gettimeofday, time, clock_getres and getcpu without a trap.
 *
 * The Sentry keeps the data page below the image (struct vvar) current: every second or so it
 * publishes, under a sequence count, the TSC value and CLOCK_MONOTONIC time of a recent sample,
 * the clock's rate in nanoseconds per TSC tick and the offset of CLOCK_REALTIME. Its own
 * clock_gettime computes time from the same page with the same arithmetic, so a program that
 * mixes the two never sees time go backwards. Until the Sentry has calibrated the TSC (or when
 * it is unusable: no invariant TSC), and for every clock computed only in the Sentry, these
 * functions make the real system call, which traps into the Sentry.
 *
 * Built by build.rs with the system C compiler; the layout of struct vvar is mirrored in
 * src/vvar.rs.
 */
#include <stdint.h>
#include <asm/unistd.h>
#include <linux/time.h>

#define NSEC_PER_SEC 1000000000ULL
#define CPU_MAP_LEN 2048
#define NO_CPU 0xff

/* Resolution of the coarse clocks, as the Sentry's clock_getres reports it (4 ms, HZ=250). */
#define COARSE_RESOLUTION_NS 4000000

struct vvar {
	/* Odd while the Sentry rewrites the clock fields below. */
	uint64_t seq;
	/* 0: no calibrated clock, make the system call. */
	uint64_t clock_ready;
	uint64_t tsc_base;
	/* CLOCK_MONOTONIC at tsc_base, in ns. */
	uint64_t monotonic_base;
	/* Nanoseconds per TSC tick, 32.32 fixed point. */
	uint64_t ns_per_tick;
	/* CLOCK_REALTIME - CLOCK_MONOTONIC, in ns. */
	int64_t realtime_offset;
	uint64_t reserved[2];
	/* Written once, before any process runs: whether rdtscp gives the host CPU. */
	uint64_t getcpu_ready;
	uint64_t reserved2[7];
	/* The sandbox's number of each host CPU (NO_CPU: not one of the sandbox's). */
	uint8_t sandbox_cpu[CPU_MAP_LEN];
};

_Static_assert(__builtin_offsetof(struct vvar, getcpu_ready) == 64, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar, sandbox_cpu) == 128, "vvar layout");
_Static_assert(sizeof(struct vvar) <= 4096, "vvar fits its page");

/* The kernel version the vDSO carries in a note, as Linux's does: the one uname reports. */
__asm__(".pushsection .note.Linux, \"a\", @note\n"
	".balign 4\n"
	".long 6\n"
	".long 4\n"
	".long 0\n"
	".asciz \"Linux\"\n"
	".balign 4\n"
	".long 0x050f00\n"
	".popsection\n");

/* The data page, addressed relative to the code so that the image needs no relocation. */
static inline const volatile struct vvar *vvar(void)
{
	const volatile struct vvar *page;
	__asm__("lea vvar_page(%%rip), %0" : "=r"(page));
	return page;
}

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The TSC, read after every earlier load and before every later one. */
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/*
 * CLOCK_MONOTONIC now, in ns, and the realtime offset; 0 if the system call must answer.
 * Exactly the Sentry's computation (src/vvar.rs, ClockParams::monotonic_at).
 */
static int read_clock(uint64_t *monotonic, int64_t *realtime_offset)
{
	const volatile struct vvar *page = vvar();
	uint64_t seq, ready, tsc_base, base, mult, tsc;
	int64_t offset;
	do {
		seq = page->seq;
		while (seq & 1) {
			__asm__ volatile("pause");
			seq = page->seq;
		}
		ready = page->clock_ready;
		tsc_base = page->tsc_base;
		base = page->monotonic_base;
		mult = page->ns_per_tick;
		offset = page->realtime_offset;
		tsc = rdtsc_ordered();
	} while (page->seq != seq);
	if (!ready)
		return 0;
	uint64_t ticks = tsc > tsc_base ? tsc - tsc_base : 0;
	*monotonic = base + (uint64_t)(((unsigned __int128)ticks * mult) >> 32);
	*realtime_offset = offset;
	return 1;
}

static int read_realtime(uint64_t *ns)
{
	uint64_t monotonic;
	int64_t offset;
	if (!read_clock(&monotonic, &offset))
		return 0;
	*ns = monotonic + (uint64_t)offset;
	return 1;
}

static int read_monotonic(uint64_t *ns)
{
	int64_t offset;
	return read_clock(ns, &offset);
}

int __vdso_clock_gettime(__kernel_clockid_t clock, struct __kernel_timespec *ts)
{
	uint64_t ns;
	int known;
	switch (clock) {
	/* The Sentry serves these from CLOCK_REALTIME ... */
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		known = read_realtime(&ns);
		break;
	/* ... and these from CLOCK_MONOTONIC. */
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		known = read_monotonic(&ns);
		break;
	default:
		known = 0;
	}
	if (!known)
		return syscall2(__NR_clock_gettime, clock, (long)ts);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct __kernel_old_timeval *tv, struct timezone *tz)
{
	uint64_t ns;
	if (tv) {
		if (!read_realtime(&ns))
			return syscall2(__NR_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	/* The sandbox runs in UTC. */
	if (tz) {
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

long __vdso_time(long *t)
{
	uint64_t ns;
	if (!read_realtime(&ns))
		return syscall2(__NR_time, (long)t, 0);
	long secs = ns / NSEC_PER_SEC;
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(__kernel_clockid_t clock, struct __kernel_timespec *res)
{
	long ns;
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_TAI:
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_BOOTTIME:
		ns = 1;
		break;
	case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE:
		ns = COARSE_RESOLUTION_NS;
		break;
	default:
		return syscall2(__NR_clock_getres, clock, (long)res);
	}
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = ns;
	}
	return 0;
}

/* The CPU the thread runs on: Linux keeps (node << 12) | cpu in TSC_AUX, which rdtscp reads. */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	const volatile struct vvar *page = vvar();
	if (page->getcpu_ready) {
		uint32_t aux;
		__asm__ volatile("rdtscp" : "=c"(aux) : : "rax", "rdx");
		uint32_t host = aux & 0xfff;
		uint8_t sandbox = host < CPU_MAP_LEN ? page->sandbox_cpu[host] : NO_CPU;
		if (sandbox != NO_CPU) {
			if (cpu)
				*cpu = sandbox;
			/* The sandbox has one NUMA node. */
			if (node)
				*node = 0;
			return 0;
		}
	}
	return syscall3(__NR_getcpu, (long)cpu, (long)node, (long)unused);
}

int clock_gettime(__kernel_clockid_t, struct __kernel_timespec *)
	__attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct __kernel_old_timeval *, struct timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(__kernel_clockid_t, struct __kernel_timespec *)
	__attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
