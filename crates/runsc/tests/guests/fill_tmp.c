// Fills /tmp until a write fails, then frees it and writes again: run with a small
// --tmpfs-size, the write fails with ENOSPC once about that much is written (statfs's free
// space at the start: the whole size, nothing else writes), statfs agrees, and unlinking the
// file gives the space back.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

static char chunk[64 * 1024];

// Writes until a write fails or is short; returns the bytes written, errno set by the failure.
static long fill(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  long total = 0;
  for (;;) {
    ssize_t n = write(fd, chunk, sizeof chunk);
    if (n < 0) break;
    total += n;
    if (n == 0) break;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return total;
}

int main(void) {
  memset(chunk, 'x', sizeof chunk);
  struct statfs before;
  if (statfs("/tmp", &before) != 0) return perror("statfs"), 1;
  unsigned long size = before.f_bavail * before.f_bsize;
  printf("free %lu, available %lu\n", before.f_bfree * before.f_bsize, size);

  long written = fill("/tmp/fill");
  printf("first fill: %s after %ld bytes, %s\n", strerror(errno), written,
         written <= (long)size && written > (long)size - (long)sizeof chunk ? "the size" : "NOT the size");
  struct statfs full;
  statfs("/tmp", &full);
  printf("free when full: %lu blocks\n", full.f_bfree);

  if (unlink("/tmp/fill") != 0) return perror("unlink"), 1;
  struct statfs freed;
  statfs("/tmp", &freed);
  printf("free after unlink: %s\n", freed.f_bfree == before.f_bfree ? "all" : "NOT all");

  long again = fill("/tmp/fill2");
  printf("second fill: %s, %s\n", strerror(errno), again == written ? "same size" : "NOT the same size");
  return 0;
}
