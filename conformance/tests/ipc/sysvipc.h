/* Shared by the System V IPC conformance programs (included after ../check.h). */
#ifndef CONFORMANCE_SYSVIPC_H
#define CONFORMANCE_SYSVIPC_H

/* The line of /proc/sysvipc/FILE for object `id`: its columns after the id, in `rest`. */
static int sysvipc_line(const char *file, int id, char *rest, size_t size)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/sysvipc/%s", file);
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		int key, line_id, offset = 0;
		if (sscanf(line, "%d %d %n", &key, &line_id, &offset) == 2 && line_id == id) {
			snprintf(rest, size, "%s", line + offset);
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

#endif
