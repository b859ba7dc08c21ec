// For each argument, prints what reading that path gives: its content or the errno's name.
// An argument "cd:DIR" changes the working directory instead.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "cd:", 3) == 0) {
      int ret = chdir(argv[i] + 3);
      printf("%s: %s\n", argv[i], ret == 0 ? "ok" : strerrorname_np(errno));
      continue;
    }
    int fd = open(argv[i], O_RDONLY);
    if (fd < 0) {
      printf("%s: %s\n", argv[i], strerrorname_np(errno));
      continue;
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
      printf("%s: read %s\n", argv[i], strerrorname_np(errno));
    } else {
      buf[n] = '\0';
      printf("%s: [%s]\n", argv[i], buf);
    }
    close(fd);
  }
  return 0;
}
