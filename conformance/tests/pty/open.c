/* Opening ptys: posix_openpt + grantpt + unlockpt + ptsname, openpty, TIOCGPTPEER; the
 * replica is locked until unlockpt; /dev/pts lists live ptys; closing the replica ends the
 * master's reads (EIO, POLLHUP); the replica is the master opener's; /dev/tty is ENXIO
 * without a controlling terminal. */
#include "../check.h"
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

static int listed(const char *name) {
    DIR *dir = opendir("/dev/pts");
    struct dirent *entry;
    int found = 0;
    if (!dir)
        return 0;
    while ((entry = readdir(dir)))
        found |= strcmp(entry->d_name, name) == 0;
    closedir(dir);
    return found;
}

int main(void) {
    int master = CHECK_OK("posix_openpt", posix_openpt(O_RDWR | O_NOCTTY));
    char *name = ptsname(master);
    CHECK("ptsname is under /dev/pts", name && strncmp(name, "/dev/pts/", 9) == 0, "%s",
          name ? name : "(null)");
    char path[64];
    snprintf(path, sizeof path, "%s", name ? name : "");
    unsigned int index = 12345;
    CHECK_OK("TIOCGPTN", ioctl(master, TIOCGPTN, &index));
    char expected[64];
    snprintf(expected, sizeof expected, "/dev/pts/%u", index);
    CHECK("TIOCGPTN matches ptsname", strcmp(expected, path) == 0, "%s vs %s", expected, path);
    int locked = 0;
    CHECK_OK("TIOCGPTLCK", ioctl(master, TIOCGPTLCK, &locked));
    CHECK("a new pty is locked", locked == 1, "%d", locked);
    CHECK_ERRNO("the locked replica doesn't open", open(path, O_RDWR | O_NOCTTY), EIO);
    CHECK_OK("grantpt", grantpt(master));
    CHECK_OK("unlockpt", unlockpt(master));
    CHECK_OK("TIOCGPTLCK after unlockpt", ioctl(master, TIOCGPTLCK, &locked));
    CHECK("unlocked", locked == 0, "%d", locked);
    CHECK("the replica is listed in /dev/pts", listed(strrchr(path, '/') + 1), "%s", path);

    char buf[64];
    fcntl(master, F_SETFL, O_NONBLOCK);
    CHECK_ERRNO("master read before the replica opened", read(master, buf, sizeof buf),
                EAGAIN);
    int replica = CHECK_OK("open the replica", open(path, O_RDWR | O_NOCTTY));
    struct stat st;
    CHECK_OK("fstat the replica", fstat(replica, &st));
    CHECK("the replica is a char device 136:N",
          S_ISCHR(st.st_mode) && major(st.st_rdev) == 136 && minor(st.st_rdev) == index,
          "mode %o rdev %u:%u", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
    CHECK("isatty(replica)", isatty(replica) == 1, "no");
    CHECK("isatty(master)", isatty(master) == 1, "no");
    char *tty = ttyname(replica);
    CHECK("ttyname(replica)", tty && strcmp(tty, path) == 0, "%s", tty ? tty : "(null)");
    CHECK_ERRNO("TIOCGPTN on the replica", ioctl(replica, TIOCGPTN, &index), ENOTTY);
    CHECK_ERRNO("lseek on a pty", lseek(replica, 0, SEEK_SET), ESPIPE);

    CHECK_OK("write to the replica", write(replica, "x", 1));
    CHECK_OK("close the replica", close(replica));
    struct pollfd pfd = {.fd = master, .events = POLLIN | POLLOUT};
    CHECK_OK("poll the master", poll(&pfd, 1, 0));
    CHECK("POLLHUP once the replica closed", (pfd.revents & POLLHUP) && (pfd.revents & POLLIN),
          "revents %#x", pfd.revents);
    ssize_t n = read(master, buf, sizeof buf);
    CHECK("data written before the close is still read", n == 1 && buf[0] == 'x', "%zd", n);
    CHECK_ERRNO("then the master reads EIO", read(master, buf, sizeof buf), EIO);
    CHECK_OK("close the master", close(master));
    CHECK("the closed pty leaves /dev/pts", !listed(strrchr(path, '/') + 1), "%s", path);

    int m2, r2, status;
    pid_t child;
    CHECK_OK("openpty", openpty(&m2, &r2, NULL, NULL, NULL));
    CHECK_OK("write master", write(m2, "ping\n", 5));
    n = read(r2, buf, sizeof buf);
    CHECK("openpty's pair is joined", n == 5 && memcmp(buf, "ping\n", 5) == 0, "%zd", n);
    n = read(m2, buf, sizeof buf);
    CHECK("the master reads the echo", n == 6 && memcmp(buf, "ping\r\n", 6) == 0, "%zd", n);
    int peer = CHECK_OK("TIOCGPTPEER", ioctl(m2, TIOCGPTPEER, O_RDWR | O_NOCTTY));
    CHECK_OK("write the peer", write(peer, "pong", 4));
    n = read(m2, buf, sizeof buf);
    CHECK("the peer is the same replica", n == 4 && memcmp(buf, "pong", 4) == 0, "%zd", n);
    CHECK_ERRNO("TIOCGPTPEER on a replica", ioctl(r2, TIOCGPTPEER, O_RDWR), EIO);

    /* A pty's replica belongs to whoever opened its master. */
    child = fork();
    if (child == 0) {
        if (setgid(1000) != 0 || setuid(1000) != 0)
            _exit(2);
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        struct stat owned;
        if (m < 0 || unlockpt(m) != 0 || stat(ptsname(m), &owned) != 0)
            _exit(3);
        int r = open(ptsname(m), O_RDWR | O_NOCTTY);
        _exit(owned.st_uid == 1000 && r >= 0 ? 0 : 4);
    }
    waitpid(child, &status, 0);
    CHECK("the replica is the master opener's and opens for them",
          WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);

    /* A new session has no controlling terminal. */
    child = fork();
    if (child == 0) {
        setsid();
        int fd = open("/dev/tty", O_RDWR);
        _exit(fd < 0 && errno == ENXIO ? 0 : 1);
    }
    waitpid(child, &status, 0);
    CHECK("/dev/tty is ENXIO without a controlling terminal",
          WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    return check_finish();
}
