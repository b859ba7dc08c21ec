/* Every way a program counts CPUs agrees: sysconf (glibc reads /sys or /proc/stat), get_nprocs,
 * sched_getaffinity, /proc/cpuinfo and /proc/stat. (The count itself is compared with the
 * host's by shell/small_surprises.sh.) */
#include "../check.h"

#include <sched.h>
#include <sys/sysinfo.h>

/* Lines of `path` that start with `prefix` (and then a digit if `digit_after`). */
static int count_lines(const char *path, const char *prefix, int digit_after)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[512];
	int n = 0;
	size_t len = strlen(prefix);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, prefix, len) == 0 &&
		    (!digit_after || (line[len] >= '0' && line[len] <= '9')))
			n++;
	fclose(f);
	return n;
}

int main(void)
{
	cpu_set_t set;
	CHECK_OK("sched_getaffinity", sched_getaffinity(0, sizeof(set), &set));
	int affinity = CPU_COUNT(&set);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	long configured = sysconf(_SC_NPROCESSORS_CONF);
	int cpuinfo = count_lines("/proc/cpuinfo", "processor", 0);
	int stat = count_lines("/proc/stat", "cpu", 1);
	CHECK("online_is_affinity", online == affinity, "sysconf %ld, affinity %d", online, affinity);
	CHECK("get_nprocs_is_online", get_nprocs() == online, "get_nprocs %d, sysconf %ld",
	      get_nprocs(), online);
	CHECK("configured_covers_online", configured >= online, "conf %ld, onln %ld", configured,
	      online);
	CHECK("cpuinfo_is_online", cpuinfo == online, "cpuinfo %d, sysconf %ld", cpuinfo, online);
	CHECK("proc_stat_is_online", stat == online, "/proc/stat %d, sysconf %ld", stat, online);
	return check_finish();
}
