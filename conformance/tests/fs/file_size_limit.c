/* RLIMIT_FSIZE on a scratch file (in the sandbox's /tmp): a write crossing the limit is cut
 * short, one at or past it fails with EFBIG and raises SIGXFSZ (which kills by default);
 * truncating past it too. Pipes have no size limit. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "../check.h"

#define LIMIT 10000

static volatile sig_atomic_t xfsz_count;

static void on_xfsz(int signo) {
    (void)signo;
    xfsz_count++;
}

int main(void) {
    char path[4096];
    scratch_path(path, sizeof path, "file_size_limit");
    static char buf[8000];
    memset(buf, 'x', sizeof buf);
    struct rlimit limit = {LIMIT, RLIM_INFINITY};
    CHECK_OK("setrlimit FSIZE", setrlimit(RLIMIT_FSIZE, &limit));
    CHECK_OK("sigaction SIGXFSZ", signal(SIGXFSZ, on_xfsz) == SIG_ERR ? -1 : 0);

    int fd = CHECK_OK("open", open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    long n = write(fd, buf, sizeof buf);
    CHECK("write below the limit", n == (long)sizeof buf, "wrote %ld", n);
    n = write(fd, buf, sizeof buf);
    CHECK("write across the limit is cut short", n == LIMIT - (long)sizeof buf, "wrote %ld", n);
    CHECK("no signal for a short write", xfsz_count == 0, "%d signals", (int)xfsz_count);
    CHECK_ERRNO("write at the limit", write(fd, buf, 1), EFBIG);
    CHECK("SIGXFSZ for the refused write", xfsz_count == 1, "%d signals", (int)xfsz_count);
    CHECK_ERRNO("pwrite past the limit", pwrite(fd, buf, 1, LIMIT + 5), EFBIG);
    n = pwrite(fd, buf, 10, 0);
    CHECK("pwrite inside the file", n == 10, "wrote %ld", n);
    CHECK("empty write at the limit", write(fd, buf, 0) == 0, "not 0");
    CHECK_OK("ftruncate to the limit", ftruncate(fd, LIMIT));
    CHECK_ERRNO("ftruncate past the limit", ftruncate(fd, LIMIT + 1), EFBIG);
    CHECK_ERRNO("truncate past the limit", truncate(path, LIMIT + 1), EFBIG);
    CHECK("SIGXFSZ for each refusal", xfsz_count == 4, "%d signals", (int)xfsz_count);
    struct stat st;
    CHECK_OK("fstat", fstat(fd, &st));
    CHECK("size stays at the limit", st.st_size == LIMIT, "size %ld", (long)st.st_size);

    /* Pipes have no size: the limit doesn't apply. */
    int pipefd[2];
    CHECK_OK("pipe", pipe(pipefd));
    CHECK("pipe writes ignore the limit", write(pipefd[1], buf, sizeof buf) == sizeof buf,
          "short");

    /* SIGXFSZ's default action kills the writer. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_DFL);
        lseek(fd, 0, SEEK_END);
        write(fd, buf, 1);
        _exit(0);
    }
    int status = 0;
    CHECK_OK("waitpid", waitpid(pid, &status, 0));
    CHECK("the default SIGXFSZ kills", WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ,
          "status %#x", status);

    /* Without the limit the file grows past it. */
    limit.rlim_cur = RLIM_INFINITY;
    CHECK_OK("setrlimit FSIZE unlimited", setrlimit(RLIMIT_FSIZE, &limit));
    n = pwrite(fd, buf, sizeof buf, LIMIT);
    CHECK("unlimited again", n == (long)sizeof buf, "wrote %ld", n);
    close(fd);
    unlink(path);
    return check_finish();
}
