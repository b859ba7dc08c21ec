// Holds 25,000 descriptors of the read-only root open (a small directory many times, each
// its own fid in the Gofer, and as many distinct regular files, each read through a host fd),
// more than the host lets one process hold (20,000 here), then reads through the first file,
// execs /bin/true, and opens until its own RLIMIT_NOFILE gives EMFILE.
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIRS 12500
#define FILES 12500
#define LIMIT 25100

static int files;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)type, (void)ftw;
  if (!S_ISREG(st->st_mode)) return 0;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return 0;
  return ++files >= FILES;
}

int main(void) {
  struct rlimit limit = {LIMIT, LIMIT};
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return perror("setrlimit"), 1;
  // The first file opened: by the end its host descriptor has long been closed for others.
  int first_file = open("/bin/true", O_RDONLY | O_CLOEXEC);
  int dirs = 0;
  for (; dirs < DIRS; dirs++) {
    if (open("/usr/local", O_RDONLY | O_DIRECTORY | O_CLOEXEC) < 0) {
      printf("directory %d: %s\n", dirs, strerror(errno));
      break;
    }
  }
  nftw("/usr", visit, 16, FTW_PHYS);
  printf("open: %d directories, %d files\n", dirs, files);

  char byte = 0;
  ssize_t n = pread(first_file, &byte, 1, 0);
  printf("read the first file: %zd, %#x\n", n, byte);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("/bin/true: exit %d\n", WEXITSTATUS(status));

  int more = 0;
  while (open("/usr/local", O_RDONLY | O_DIRECTORY) >= 0) more++;
  printf("then %d more until %s\n", more, strerror(errno));
  return 0;
}
