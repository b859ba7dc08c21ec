/* Sessions and job control on a pty: a session leader takes it with TIOCSCTTY (others get
 * EPERM); ^C ^Z ^\ and window-size changes signal the foreground group only; a background
 * group's reads get SIGTTIN (EIO when ignored), its tcsetattr SIGTTOU, its writes SIGTTOU
 * under TOSTOP; closing the master hangs the replica up: SIGHUP and SIGCONT to the session
 * leader, end-of-file to readers, EIO to writers. An orphaned background group gets EIO
 * rather than a stop nobody would end. A session leader can give its terminal up (TIOCNOTTY). */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include "../check.h"

static int master, replica;
/* Children report each signal they catch here, as one byte (and 'R', 'L' for progress). */
static int report[2];
static volatile sig_atomic_t caught[NSIG];
/* Whether this process reports the signals it catches (the background job only counts). */
static int reporting = 1;

static void on_signal(int signo) {
    char byte = (char)signo;
    caught[signo]++;
    if (reporting && write(report[1], &byte, 1) != 1)
        _exit(99);
}

/* Catches `signo` without SA_RESTART, so an interrupted call fails with EINTR. */
static void catch_signal(int signo) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(signo, &sa, NULL);
}

/* The next byte a child reported; -1 if none came in ten seconds (a hang guard). */
static int next_report(void) {
    struct pollfd pfd = {.fd = report[0], .events = POLLIN};
    unsigned char byte;
    if (poll(&pfd, 1, 10000) != 1 || read(report[0], &byte, 1) != 1)
        return -1;
    return byte;
}

static void send_report(char byte) {
    if (write(report[1], &byte, 1) != 1)
        _exit(98);
}

static int exited_cleanly(pid_t pid) {
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Fields 7 and 8 of /proc/self/stat: the controlling terminal's device and foreground group. */
static void stat_tty(long *tty_nr, long *tpgid) {
    char buf[1024] = "";
    FILE *f = fopen("/proc/self/stat", "r");
    *tty_nr = *tpgid = -2;
    if (!f || !fgets(buf, sizeof buf, f))
        return;
    fclose(f);
    char *after_comm = strrchr(buf, ')');
    if (after_comm)
        sscanf(after_comm + 2, "%*c %*d %*d %*d %ld %ld", tty_nr, tpgid);
}

/* A background process group of the session: job-control stops instead of access. */
static void background_job(void) {
    char buf[16];
    struct termios t;
    reporting = 0;
    setpgid(0, 0);
    catch_signal(SIGTTIN);
    catch_signal(SIGTTOU);
    errno = 0;
    ssize_t n = read(replica, buf, sizeof buf);
    CHECK("a background read gets SIGTTIN", n == -1 && errno == EINTR && caught[SIGTTIN] == 1,
          "read %zd errno %d caught %d", n, errno, caught[SIGTTIN]);
    n = write(replica, "bg\n", 3);
    CHECK("a background write goes through without TOSTOP", n == 3, "%zd", n);
    tcgetattr(replica, &t);
    errno = 0;
    int r = tcsetattr(replica, TCSANOW, &t);
    CHECK("a background tcsetattr gets SIGTTOU", r == -1 && errno == EINTR && caught[SIGTTOU] == 1,
          "%d errno %d caught %d", r, errno, caught[SIGTTOU]);
    signal(SIGTTOU, SIG_IGN);
    t.c_lflag |= TOSTOP;
    CHECK_OK("with SIGTTOU ignored, tcsetattr goes ahead", tcsetattr(replica, TCSANOW, &t));
    catch_signal(SIGTTOU);
    errno = 0;
    n = write(replica, "bg\n", 3);
    CHECK("under TOSTOP a background write gets SIGTTOU",
          n == -1 && errno == EINTR && caught[SIGTTOU] == 2, "%zd errno %d", n, errno);
    signal(SIGTTIN, SIG_IGN);
    CHECK_ERRNO("with SIGTTIN ignored, a background read is EIO", read(replica, buf, sizeof buf),
                EIO);
    /* Put TOSTOP back (ignoring SIGTTOU) for the jobs that follow. */
    signal(SIGTTOU, SIG_IGN);
    t.c_lflag &= ~TOSTOP;
    tcsetattr(replica, TCSANOW, &t);
    exit(check_finish());
}

/* A background group whose parent left: orphaned, so its reads and tcsetattr are EIO. */
static void orphaned_job(int done) {
    pid_t parent = getpid();
    setpgid(0, 0);
    if (fork() != 0)
        _exit(0);
    /* Wait (a hang guard bounds it) for the parent to go, leaving the group orphaned. */
    for (int i = 0; i < 10000 && getppid() == parent; i++)
        usleep(1000);
    char buf[4];
    struct termios t;
    CHECK_ERRNO("an orphaned group's read is EIO", read(replica, buf, sizeof buf), EIO);
    tcgetattr(replica, &t);
    CHECK_ERRNO("an orphaned group's tcsetattr is EIO", tcsetattr(replica, TCSANOW, &t), EIO);
    if (write(done, check_failures ? "F" : "D", 1) != 1)
        _exit(95);
    _exit(0);
}

/* The foreground job: catches the keyboard's signals, then reads until the hangup. */
static void foreground_job(int ready) {
    char buf[64];
    setpgid(0, 0);
    catch_signal(SIGINT);
    catch_signal(SIGTSTP);
    catch_signal(SIGQUIT);
    catch_signal(SIGWINCH);
    signal(SIGHUP, SIG_IGN);
    if (write(ready, "b", 1) != 1)
        _exit(97);
    while (caught[SIGINT] + caught[SIGTSTP] + caught[SIGQUIT] + caught[SIGWINCH] < 4)
        pause();
    ssize_t n = read(replica, buf, sizeof buf);
    CHECK("the foreground job reads a typed line", n == 5 && memcmp(buf, "line\n", 5) == 0,
          "%zd", n);
    send_report('L');
    /* A read already waiting when the hangup comes fails with EIO, a later one reads
     * end-of-file; which one this is depends on timing (natively), so either will do. */
    errno = 0;
    n = read(replica, buf, sizeof buf);
    CHECK("after the master closed, reads end", n == 0 || (n == -1 && errno == EIO),
          "%zd errno %d", n, errno);
    n = read(replica, buf, sizeof buf);
    CHECK("and reads after that are end-of-file", n == 0, "%zd errno %d", n, errno);
    CHECK_ERRNO("and writes fail with EIO", write(replica, "x", 1), EIO);
    exit(check_finish());
}

/* The session leader: takes the terminal, starts the jobs, waits for the hangup. */
static void session_leader(void) {
    pid_t sid = 0;
    int ready[2];
    /* Only the test's main process holds the master: its close is the hangup. */
    close(master);
    setsid();
    CHECK_OK("TIOCSCTTY by a session leader", ioctl(replica, TIOCSCTTY, 0));
    CHECK_OK("TIOCGSID", ioctl(replica, TIOCGSID, &sid));
    CHECK("the terminal's session is the caller's", sid == getpid(), "%d", sid);
    CHECK("its foreground group is the leader's", tcgetpgrp(replica) == getpgrp(), "%d",
          tcgetpgrp(replica));
    struct stat st;
    long tty_nr, tpgid;
    fstat(replica, &st);
    stat_tty(&tty_nr, &tpgid);
    unsigned long want = (minor(st.st_rdev) & 0xff) | (major(st.st_rdev) << 8) |
                         ((minor(st.st_rdev) & ~0xffUL) << 12);
    CHECK("/proc/self/stat names the terminal and its foreground group",
          tty_nr == (long)want && tpgid == getpgrp(), "tty_nr %#lx (want %#lx) tpgid %ld",
          tty_nr, want, tpgid);
    pid_t other = fork();
    if (other == 0) {
        CHECK_ERRNO("TIOCSCTTY by a process that is not a session leader",
                    ioctl(replica, TIOCSCTTY, 0), EPERM);
        exit(check_finish());
    }
    CHECK("(non-leader child)", exited_cleanly(other), "failed");
    int m2, r2;
    openpty(&m2, &r2, NULL, NULL, NULL);
    CHECK_ERRNO("a session with a terminal can't take a second", ioctl(r2, TIOCSCTTY, 0),
                EPERM);
    CHECK_ERRNO("TIOCGPGRP of a terminal that is not the caller's", ioctl(r2, TIOCGPGRP, &sid),
                ENOTTY);
    close(m2);
    close(r2);
    int tty = open("/dev/tty", O_RDWR);
    CHECK("/dev/tty opens the controlling terminal", tty >= 0, "errno %d", errno);
    close(tty);

    catch_signal(SIGHUP);
    catch_signal(SIGCONT);
    pipe(ready);
    pid_t fg = fork();
    if (fg == 0)
        foreground_job(ready[1]);
    char byte;
    if (read(ready[0], &byte, 1) != 1)
        _exit(96);
    setpgid(fg, fg);
    CHECK_OK("tcsetpgrp", tcsetpgrp(replica, fg));
    CHECK("the foreground group changed", tcgetpgrp(replica) == fg, "%d", tcgetpgrp(replica));
    pid_t bg = fork();
    if (bg == 0)
        background_job();
    CHECK("(background job)", exited_cleanly(bg), "failed");
    int done[2];
    pipe(done);
    pid_t orphan_parent = fork();
    if (orphan_parent == 0)
        orphaned_job(done[1]);
    int parent_ok = exited_cleanly(orphan_parent);
    int orphan_ok = read(done[0], &byte, 1) == 1 && byte == 'D';
    CHECK("(orphaned job's parent)", parent_ok, "failed");
    CHECK("(orphaned job)", orphan_ok, "failed");
    send_report('R');
    while (!caught[SIGHUP] || !caught[SIGCONT])
        pause();
    CHECK("(foreground job)", exited_cleanly(fg), "failed");
    exit(check_finish());
}

/* A session leader giving its terminal up (TIOCNOTTY): its foreground group (its own) gets
 * SIGHUP and SIGCONT, and the session has no terminal any more. */
static void give_up_terminal(void) {
    int m, r;
    pid_t sid;
    reporting = 0;
    close(master);
    close(replica);
    setsid();
    openpty(&m, &r, NULL, NULL, NULL);
    CHECK_OK("TIOCSCTTY", ioctl(r, TIOCSCTTY, 0));
    catch_signal(SIGHUP);
    catch_signal(SIGCONT);
    CHECK_OK("TIOCNOTTY by the session leader", ioctl(r, TIOCNOTTY));
    CHECK("its foreground group got SIGHUP and SIGCONT", caught[SIGHUP] == 1 && caught[SIGCONT] == 1,
          "SIGHUP %d SIGCONT %d", caught[SIGHUP], caught[SIGCONT]);
    CHECK_ERRNO("the terminal is no longer the session's", ioctl(r, TIOCGSID, &sid), ENOTTY);
    CHECK_ERRNO("TIOCNOTTY again", ioctl(r, TIOCNOTTY), ENOTTY);
    CHECK_ERRNO("/dev/tty is gone with it", open("/dev/tty", O_RDWR), ENXIO);
    exit(check_finish());
}

int main(void) {
    CHECK_OK("openpty", openpty(&master, &replica, NULL, NULL, NULL));
    CHECK_OK("pipe", pipe(report));
    pid_t leader = fork();
    if (leader == 0)
        session_leader();
    close(replica);
    int got = next_report();
    CHECK("the jobs are ready", got == 'R', "got %d", got);
    const struct {
        const char *name, *key;
        int signo;
    } keys[] = {
        {"^C is SIGINT to the foreground group", "\003", SIGINT},
        {"^Z is SIGTSTP to the foreground group", "\032", SIGTSTP},
        {"^\\ is SIGQUIT to the foreground group", "\034", SIGQUIT},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (write(master, keys[i].key, 1) != 1)
            printf("FAIL typing\n");
        int got = next_report();
        CHECK(keys[i].name, got == keys[i].signo, "got %d", got);
    }
    struct winsize size = {.ws_row = 24, .ws_col = 80};
    CHECK_OK("TIOCSWINSZ on the master", ioctl(master, TIOCSWINSZ, &size));
    got = next_report();
    CHECK("a new window size is SIGWINCH to the foreground group", got == SIGWINCH, "got %d",
          got);
    struct winsize seen = {0};
    CHECK_OK("TIOCGWINSZ", ioctl(master, TIOCGWINSZ, &seen));
    CHECK("the window size reads back", seen.ws_row == 24 && seen.ws_col == 80, "%dx%d",
          seen.ws_row, seen.ws_col);
    pid_t pgrp = 0;
    CHECK_OK("TIOCGPGRP on the master", ioctl(master, TIOCGPGRP, &pgrp));
    CHECK("the master sees the foreground group", pgrp > 0 && pgrp != leader, "%d", pgrp);
    if (write(master, "line\n", 5) != 5)
        printf("FAIL typing\n");
    got = next_report();
    CHECK("(the line was read)", got == 'L', "got %d", got);
    close(master);
    int first = next_report(), second = next_report();
    CHECK("(session leader)", exited_cleanly(leader), "failed");
    CHECK("closing the master sends SIGHUP and SIGCONT to the session leader",
          (first == SIGHUP && second == SIGCONT) || (first == SIGCONT && second == SIGHUP),
          "got %d %d", first, second);
    pid_t quitter = fork();
    if (quitter == 0)
        give_up_terminal();
    CHECK("(TIOCNOTTY)", exited_cleanly(quitter), "failed");
    return check_finish();
}
