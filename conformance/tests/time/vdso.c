/* The vDSO and the legacy vsyscall page: the vDSO is mapped (AT_SYSINFO_EHDR, [vdso] and a
 * read-only [vvar] in /proc/self/maps, in forked children too), exports Linux's functions under
 * version LINUX_2.6, and agrees with the system calls: CLOCK_MONOTONIC read alternately through
 * libc (the vDSO) and the raw syscall never goes back. Calls into the vsyscall page are emulated
 * (gettimeofday, time, getcpu); other addresses in it raise SIGSEGV. getcpu names a CPU the
 * thread may run on. */
#include "../check.h"

#include <elf.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#define VSYSCALL_GETTIMEOFDAY 0xffffffffff600000UL
#define VSYSCALL_TIME 0xffffffffff600400UL
#define VSYSCALL_GETCPU 0xffffffffff600800UL

static long long ns_of(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The vDSO's dynamic symbol table, found from its ELF header. */
struct vdso {
	uintptr_t bias;
	const Elf64_Sym *symbols;
	const char *strings;
	const Elf64_Half *versions;
	const Elf64_Verdef *verdefs;
	Elf64_Word count;
};

static int vdso_open(struct vdso *vdso, uintptr_t base)
{
	const Elf64_Ehdr *ehdr = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *phdrs = (const Elf64_Phdr *)(base + ehdr->e_phoff);
	const Elf64_Dyn *dynamic = NULL;
	memset(vdso, 0, sizeof *vdso);
	vdso->bias = (uintptr_t)-1;
	for (int i = 0; i < ehdr->e_phnum; i++) {
		if (phdrs[i].p_type == PT_LOAD && vdso->bias == (uintptr_t)-1)
			vdso->bias = base + phdrs[i].p_offset - phdrs[i].p_vaddr;
		if (phdrs[i].p_type == PT_DYNAMIC)
			dynamic = (const Elf64_Dyn *)(base + phdrs[i].p_offset);
	}
	if (!dynamic || vdso->bias == (uintptr_t)-1)
		return 0;
	const Elf64_Word *hash = NULL;
	for (; dynamic->d_tag != DT_NULL; dynamic++) {
		uintptr_t at = vdso->bias + dynamic->d_un.d_ptr;
		switch (dynamic->d_tag) {
		case DT_SYMTAB: vdso->symbols = (const Elf64_Sym *)at; break;
		case DT_STRTAB: vdso->strings = (const char *)at; break;
		case DT_HASH: hash = (const Elf64_Word *)at; break;
		case DT_VERSYM: vdso->versions = (const Elf64_Half *)at; break;
		case DT_VERDEF: vdso->verdefs = (const Elf64_Verdef *)at; break;
		}
	}
	if (!vdso->symbols || !vdso->strings || !hash)
		return 0;
	vdso->count = hash[1]; /* nchain: one entry per symbol */
	return 1;
}

/* The name of version index `index`. */
static const char *vdso_version_name(const struct vdso *vdso, Elf64_Half index)
{
	const Elf64_Verdef *def = vdso->verdefs;
	while (def) {
		if ((def->vd_flags & VER_FLG_BASE) == 0 && def->vd_ndx == index) {
			const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)def + def->vd_aux);
			return vdso->strings + aux->vda_name;
		}
		def = def->vd_next ? (const Elf64_Verdef *)((const char *)def + def->vd_next) : NULL;
	}
	return "";
}

/* A defined function `name` of version `version`, as glibc looks them up; NULL if none. */
static void *vdso_sym(const struct vdso *vdso, const char *version, const char *name)
{
	for (Elf64_Word i = 0; i < vdso->count; i++) {
		const Elf64_Sym *sym = &vdso->symbols[i];
		if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF)
			continue;
		if (strcmp(vdso->strings + sym->st_name, name) != 0)
			continue;
		if (vdso->versions && vdso->verdefs &&
		    strcmp(vdso_version_name(vdso, vdso->versions[i] & 0x7fff), version) != 0)
			continue;
		return (void *)(vdso->bias + sym->st_value);
	}
	return NULL;
}

/* Whether /proc/self/maps lists `name` starting at `start` (0: anywhere) with permissions that
 * begin with `perms`. */
static int mapped(const char *name, uintptr_t start, const char *perms)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	while (maps && fgets(line, sizeof line, maps)) {
		unsigned long from;
		char mode[8];
		line[strcspn(line, "\n")] = 0;
		size_t len = strlen(line), name_len = strlen(name);
		if (len < name_len || strcmp(line + len - name_len, name) != 0)
			continue;
		if (sscanf(line, "%lx-%*x %7s", &from, mode) == 2 && (start == 0 || from == start) &&
		    strncmp(mode, perms, strlen(perms)) == 0)
			found = 1;
	}
	if (maps)
		fclose(maps);
	return found;
}

/* Runs `body` in a child; its wait status. */
static int in_child(void (*body)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return status;
}

static int killed_by_segv(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void write_vvar(void)
{
	/* The page just below the image is the vvar page on Linux and here. */
	*(volatile char *)(getauxval(AT_SYSINFO_EHDR) - 1) = 1;
}

static void write_vdso(void)
{
	*(volatile char *)getauxval(AT_SYSINFO_EHDR) = 1;
}

static void call_vsyscall_middle(void)
{
	((void (*)(void))(VSYSCALL_GETTIMEOFDAY + 0x100))();
}

static void forked_child_has_vdso(void)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	struct timespec a, b;
	if (!base || !mapped("[vdso]", base, "r-x") || clock_gettime(CLOCK_MONOTONIC, &a) != 0 ||
	    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b) != 0 || ns_of(b) < ns_of(a))
		_exit(1);
}

/* Whether the thread may run on `cpu`: getcpu must name one of those. */
static int runnable_cpu(unsigned cpu)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof set, &set) == 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set);
}

/* The vsyscall page's three calls; exits 0 if they gave consistent answers. */
static void vsyscalls(void)
{
	long (*vgettimeofday)(struct timeval *, struct timezone *) = (void *)VSYSCALL_GETTIMEOFDAY;
	long (*vtime)(long *) = (void *)VSYSCALL_TIME;
	long (*vgetcpu)(unsigned *, unsigned *, void *) = (void *)VSYSCALL_GETCPU;
	struct timespec before, after;
	struct timeval tv;
	long t = 0;
	unsigned cpu = ~0u;
	clock_gettime(CLOCK_REALTIME, &before);
	if (vgettimeofday(&tv, NULL) != 0)
		_exit(2);
	long secs = vtime(&t);
	if (vgetcpu(&cpu, NULL, NULL) != 0)
		_exit(3);
	clock_gettime(CLOCK_REALTIME, &after);
	if (tv.tv_sec < before.tv_sec || tv.tv_sec > after.tv_sec || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		_exit(4);
	if (secs != t || secs < before.tv_sec || secs > after.tv_sec)
		_exit(5);
	if (!runnable_cpu(cpu))
		_exit(6);
}

int main(void)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	CHECK("auxv_sysinfo_ehdr", base != 0 && memcmp((void *)base, ELFMAG, SELFMAG) == 0, "at %#lx",
	      (unsigned long)base);
	if (base == 0)
		return check_finish();
	CHECK("maps_vdso", mapped("[vdso]", base, "r-x"), "no [vdso] r-x at %#lx", (unsigned long)base);
	CHECK("maps_vvar_read_only", mapped("[vvar]", 0, "r--"), "no read-only [vvar]");
	int status = in_child(write_vvar);
	CHECK("vvar_not_writable", killed_by_segv(status), "child status %#x", status);
	status = in_child(write_vdso);
	CHECK("vdso_not_writable", killed_by_segv(status), "child status %#x", status);
	status = in_child(forked_child_has_vdso);
	CHECK("fork_keeps_vdso", WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);

	struct vdso vdso;
	CHECK("vdso_parses", vdso_open(&vdso, base), "no dynamic symbol table");
	int (*vdso_clock_gettime)(clockid_t, struct timespec *) =
		vdso_sym(&vdso, "LINUX_2.6", "__vdso_clock_gettime");
	int (*vdso_gettimeofday)(struct timeval *, struct timezone *) =
		vdso_sym(&vdso, "LINUX_2.6", "__vdso_gettimeofday");
	long (*vdso_time)(long *) = vdso_sym(&vdso, "LINUX_2.6", "__vdso_time");
	long (*vdso_getcpu)(unsigned *, unsigned *, void *) = vdso_sym(&vdso, "LINUX_2.6", "__vdso_getcpu");
	int (*vdso_clock_getres)(clockid_t, struct timespec *) =
		vdso_sym(&vdso, "LINUX_2.6", "__vdso_clock_getres");
	CHECK("vdso_exports", vdso_clock_gettime && vdso_gettimeofday && vdso_time && vdso_getcpu &&
				      vdso_clock_getres,
	      "clock_gettime %p gettimeofday %p time %p getcpu %p clock_getres %p",
	      (void *)vdso_clock_gettime, (void *)vdso_gettimeofday, (void *)vdso_time,
	      (void *)vdso_getcpu, (void *)vdso_clock_getres);
	if (!(vdso_clock_gettime && vdso_gettimeofday && vdso_time && vdso_getcpu && vdso_clock_getres))
		return check_finish();

	/* libc's clock_gettime goes through the vDSO; the raw syscall traps. */
	long backwards = 0;
	struct timespec via_libc, via_syscall;
	clock_gettime(CLOCK_MONOTONIC, &via_libc);
	long long last = ns_of(via_libc);
	for (int i = 0; i < 100000; i++) {
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &via_syscall);
		clock_gettime(CLOCK_MONOTONIC, &via_libc);
		if (ns_of(via_syscall) < last || ns_of(via_libc) < ns_of(via_syscall))
			backwards++;
		last = ns_of(via_libc);
	}
	CHECK("monotonic_vdso_and_syscall_interleaved", backwards == 0, "%ld steps backwards", backwards);

	struct timespec start, end, realtime;
	int direct_ok = 1;
	for (clockid_t clock = 0; clock <= CLOCK_TAI; clock++) {
		if (clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID)
			continue;
		long from_syscall = syscall(SYS_clock_gettime, clock, &start);
		int from_vdso = vdso_clock_gettime(clock, &realtime);
		if ((from_syscall == 0) != (from_vdso == 0))
			direct_ok = 0;
	}
	CHECK("vdso_clock_gettime_same_clocks", direct_ok, "a clock valid in one and not the other");
	int bad_clock = vdso_clock_gettime(12345, &start);
	CHECK("vdso_clock_gettime_bad_clock", bad_clock == -EINVAL, "returned %d", bad_clock);

	clock_gettime(CLOCK_REALTIME, &start);
	struct timeval tv;
	int tv_ok = gettimeofday(&tv, NULL) == 0;
	long direct_seconds = vdso_time(NULL);
	time_t seconds = time(NULL);
	struct timeval direct_tv;
	tv_ok = tv_ok && vdso_gettimeofday(&direct_tv, NULL) == 0;
	clock_gettime(CLOCK_REALTIME, &end);
	long long tv_ns = (long long)tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
	long long direct_tv_ns = (long long)direct_tv.tv_sec * 1000000000LL + direct_tv.tv_usec * 1000LL;
	CHECK("gettimeofday_within_realtime",
	      tv_ok && tv_ns >= ns_of(start) / 1000 * 1000 && tv_ns <= ns_of(end) &&
		      direct_tv_ns >= tv_ns && direct_tv_ns <= ns_of(end),
	      "start %lld tv %lld direct %lld end %lld", ns_of(start), tv_ns, direct_tv_ns, ns_of(end));
	CHECK("time_within_realtime",
	      seconds >= start.tv_sec && seconds <= end.tv_sec && direct_seconds >= start.tv_sec &&
		      direct_seconds <= seconds,
	      "start %lld time %lld direct %ld end %lld", (long long)start.tv_sec, (long long)seconds,
	      direct_seconds, (long long)end.tv_sec);

	int res_ok = 1;
	for (clockid_t clock = 0; clock <= CLOCK_TAI; clock++) {
		struct timespec from_syscall = {0}, from_vdso = {0};
		long a = syscall(SYS_clock_getres, clock, &from_syscall);
		int b = vdso_clock_getres(clock, &from_vdso);
		if ((a == 0) != (b == 0) || ns_of(from_syscall) != ns_of(from_vdso))
			res_ok = 0;
	}
	CHECK("vdso_clock_getres_matches_syscall", res_ok, "a resolution differs");

	unsigned cpu = ~0u, node = ~0u;
	long got_cpu = vdso_getcpu(&cpu, &node, NULL);
	int libc_cpu = sched_getcpu();
	CHECK("getcpu_runnable_cpu", got_cpu == 0 && runnable_cpu(cpu) && libc_cpu >= 0 && runnable_cpu(libc_cpu),
	      "vdso getcpu %ld cpu %u, sched_getcpu %d", got_cpu, cpu, libc_cpu);

	/* The same CPU both ways, unless the thread moved in between (tried a few times). */
	int same_cpu = 0;
	for (int i = 0; i < 100 && !same_cpu; i++) {
		unsigned from_vdso = ~0u, from_syscall = ~1u;
		vdso_getcpu(&from_vdso, NULL, NULL);
		syscall(SYS_getcpu, &from_syscall, NULL, NULL);
		same_cpu = from_vdso == from_syscall;
	}
	CHECK("getcpu_vdso_matches_syscall", same_cpu, "never the same CPU in 100 tries");

	status = in_child(vsyscalls);
	CHECK("vsyscall_emulated", WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x",
	      status);
	status = in_child(call_vsyscall_middle);
	CHECK("vsyscall_other_address_segv", killed_by_segv(status), "child status %#x", status);
	return check_finish();
}
