/* The line discipline: canonical line editing (VERASE, VWERASE, VKILL, VEOF, VEOL), echo
 * (ECHO, ECHOE, ECHOK, ECHONL, ECHOCTL), input mapping (ICRNL, INLCR, IGNCR), output
 * processing (OPOST, ONLCR), raw mode (VMIN), FIONREAD, TCFLSH and termios round trips. */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include "../check.h"

static int master, replica;

/* TCGETS2/TCSETS2 as <asm/ioctls.h> numbers them, for the struct below. */
#define KERNEL_TCGETS2 _IOR('T', 0x2A, struct kernel_termios2)
#define KERNEL_TCSETS2 _IOW('T', 0x2B, struct kernel_termios2)

/* The kernel's struct termios2 (<asm/termbits.h> clashes with <termios.h>). */
struct kernel_termios2 {
    tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
    cc_t c_line;
    cc_t c_cc[19];
    speed_t c_ispeed, c_ospeed;
};

/* Linux moves bytes between a pty's ends asynchronously, so reads wait (poll) for them: these
 * timeouts only bound a wait for data that should come, or for data that should not. */
static int wait_readable(int fd, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

/* What the master reads: until `want` bytes came (or a second passed without more). */
static const char *master_bytes(size_t want) {
    static char buf[512];
    size_t got = 0;
    while (got < want && got < sizeof buf - 1 && wait_readable(master, 1000)) {
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += n;
    }
    buf[got] = 0;
    return buf;
}

/* Discards whatever the master has to read, once it has been quiet for a while. */
static void drain_master(void) {
    char buf[512];
    while (wait_readable(master, 200) && read(master, buf, sizeof buf) > 0) {
    }
}

/* What one replica read returns once input arrived; "(EAGAIN)" if none came in a second. */
static const char *from_replica(void) {
    static char buf[512];
    if (!wait_readable(replica, 1000))
        return "(EAGAIN)";
    ssize_t n = read(replica, buf, sizeof buf - 1);
    if (n < 0)
        return errno == EAGAIN ? "(EAGAIN)" : "(error)";
    buf[n] = 0;
    return buf;
}

static void type(const char *keys) {
    if (write(master, keys, strlen(keys)) != (ssize_t)strlen(keys))
        printf("FAIL typing %s\n", keys);
}

static void expect(const char *name, const char *got, const char *want) {
    CHECK(name, strcmp(got, want) == 0, "got \"%s\" want \"%s\"", got, want);
}

static void expect_master(const char *name, const char *want) {
    expect(name, master_bytes(strlen(want) ? strlen(want) : 1), want);
}

static void set_flags(tcflag_t lclear, tcflag_t lset, tcflag_t iclear, tcflag_t iset) {
    struct termios t;
    tcgetattr(replica, &t);
    t.c_lflag = (t.c_lflag & ~lclear) | lset;
    t.c_iflag = (t.c_iflag & ~iclear) | iset;
    tcsetattr(replica, TCSANOW, &t);
}

int main(void) {
    struct termios initial;
    CHECK_OK("openpty", openpty(&master, &replica, NULL, NULL, NULL));
    fcntl(master, F_SETFL, O_NONBLOCK);
    fcntl(replica, F_SETFL, O_NONBLOCK);
    CHECK_OK("tcgetattr", tcgetattr(replica, &initial));
    CHECK("new ptys are cooked with echo and signals",
          (initial.c_lflag & (ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ISIG | IEXTEN)) ==
                  (ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ISIG | IEXTEN) &&
              (initial.c_iflag & ICRNL) && (initial.c_oflag & (OPOST | ONLCR)) == (OPOST | ONLCR),
          "lflag %o iflag %o oflag %o", initial.c_lflag, initial.c_iflag, initial.c_oflag);
    CHECK("default control characters",
          initial.c_cc[VINTR] == 3 && initial.c_cc[VERASE] == 0177 && initial.c_cc[VKILL] == 025 &&
              initial.c_cc[VEOF] == 4 && initial.c_cc[VMIN] == 1 && initial.c_cc[VWERASE] == 027,
          "intr %d erase %d kill %d eof %d", initial.c_cc[VINTR], initial.c_cc[VERASE],
          initial.c_cc[VKILL], initial.c_cc[VEOF]);
    struct termios master_view;
    CHECK_OK("tcgetattr on the master", tcgetattr(master, &master_view));
    CHECK("the master sees the replica's termios",
          memcmp(&master_view.c_lflag, &initial.c_lflag, sizeof initial.c_lflag) == 0, "%o",
          master_view.c_lflag);

    type("partial");
    expect("no line yet", from_replica(), "(EAGAIN)");
    int avail = -1;
    ioctl(replica, FIONREAD, &avail);
    CHECK("FIONREAD counts complete lines only", avail == 0, "%d", avail);
    type("\r");
    wait_readable(replica, 1000);
    ioctl(replica, FIONREAD, &avail);
    CHECK("FIONREAD after the line", avail == 8, "%d", avail);
    expect("CR is mapped to NL (ICRNL)", from_replica(), "partial\n");
    expect_master("echo of a line, ONLCR", "partial\r\n");

    type("helo\177lo wrld\027world\n");
    expect("VERASE and VWERASE", from_replica(), "hello world\n");
    expect_master("ECHOE erases visibly", "helo\b \blo wrld\b \b\b \b\b \b\b \bworld\r\n");

    type("one\ntwo\n");
    char small[3];
    wait_readable(replica, 1000);
    ssize_t n = read(replica, small, sizeof small);
    CHECK("a short read takes part of a line", n == 3 && memcmp(small, "one", 3) == 0, "%zd",
          n);
    expect("then the rest of it", from_replica(), "\n");
    expect("one line per read", from_replica(), "two\n");
    drain_master();

    type("abcdef\nxy\n");
    drain_master();
    char first[3], second[10];
    struct iovec iov[2] = {{first, sizeof first}, {second, sizeof second}};
    fcntl(replica, F_SETFL, 0);
    n = readv(replica, iov, 2);
    CHECK("readv spreads one line over the iovecs",
          n == 7 && memcmp(first, "abc", 3) == 0 && memcmp(second, "def\n", 4) == 0, "%zd", n);
    n = readv(replica, iov, 2);
    CHECK("a line that fills the first iovec ends the readv",
          n == 3 && memcmp(first, "xy\n", 3) == 0, "%zd", n);
    fcntl(replica, F_SETFL, O_NONBLOCK);

    set_flags(ECHOKE, 0, 0, 0);
    type("junk\025ok\n");
    expect("VKILL drops the line", from_replica(), "ok\n");
    expect_master("ECHOK echoes the kill character and a newline", "junk^U\r\nok\r\n");

    type("abc\004");
    expect("VEOF ends a line without a newline", from_replica(), "abc");
    type("\004");
    expect("VEOF on an empty line reads end-of-file", from_replica(), "");
    expect_master("VEOF is not echoed", "abc");

    struct termios t;
    tcgetattr(replica, &t);
    t.c_cc[VEOL] = ';';
    tcsetattr(replica, TCSANOW, &t);
    type("a;b");
    expect("VEOL ends a line", from_replica(), "a;");
    type("\n");
    from_replica();
    drain_master();

    type("\001x\n");
    from_replica();
    expect_master("ECHOCTL echoes control characters as ^X", "^Ax\r\n");
    set_flags(ECHOCTL, 0, 0, 0);
    type("\001\n");
    from_replica();
    expect_master("without ECHOCTL they are echoed as is", "\001\r\n");

    set_flags(ECHO, ECHONL, 0, 0);
    type("secret\n");
    expect_master("ECHONL without ECHO echoes only the newline", "\r\n");
    expect("the line still arrives", from_replica(), "secret\n");

    set_flags(ECHONL, ECHO, ICRNL, INLCR);
    type("x\n\r");
    expect("INLCR maps NL to CR, CR stays without ICRNL", from_replica(), "(EAGAIN)");
    drain_master();
    tcflush(replica, TCIFLUSH);
    set_flags(0, 0, INLCR, IGNCR);
    type("y\r\n");
    expect("IGNCR drops CR", from_replica(), "y\n");
    set_flags(0, 0, IGNCR, ICRNL);
    drain_master();

    CHECK_OK("write to the replica", write(replica, "a\nb\n", 4));
    expect_master("ONLCR maps output NL to CR NL", "a\r\nb\r\n");
    tcgetattr(replica, &t);
    t.c_oflag &= ~OPOST;
    tcsetattr(replica, TCSANOW, &t);
    write(replica, "a\nb\n", 4);
    expect_master("no processing without OPOST", "a\nb\n");

    type("unfinished");
    expect_master("echo of the partial line", "unfinished");
    cfmakeraw(&t);
    CHECK_OK("raw mode", tcsetattr(replica, TCSANOW, &t));
    expect("leaving canonical mode makes the partial line readable", from_replica(),
           "unfinished");
    type("\003\r\177");
    expect("raw input is taken as is", from_replica(), "\003\r\177");
    expect_master("without echo", "");
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    tcsetattr(replica, TCSANOW, &t);
    fcntl(replica, F_SETFL, 0);
    char none[8];
    n = read(replica, none, sizeof none);
    CHECK("VMIN 0 reads return at once", n == 0, "%zd", n);

    t.c_cc[VTIME] = 1;
    tcsetattr(replica, TCSANOW, &t);
    n = read(replica, none, sizeof none);
    CHECK("VMIN 0 VTIME 1: nothing within a tenth of a second reads 0", n == 0, "%zd", n);
    type("z");
    wait_readable(replica, 1000);
    n = read(replica, none, sizeof none);
    CHECK("VMIN 0 VTIME 1: what came is read", n == 1 && none[0] == 'z', "%zd", n);

    t.c_cc[VMIN] = 2;
    t.c_cc[VTIME] = 0;
    tcsetattr(replica, TCSANOW, &t);
    type("a");
    pid_t typist = fork();
    if (typist == 0) {
        usleep(100000);
        type("b");
        _exit(0);
    }
    n = read(replica, none, sizeof none);
    CHECK("VMIN 2: a read waits for two bytes", n == 2 && memcmp(none, "ab", 2) == 0, "%zd", n);
    waitpid(typist, NULL, 0);
    type("c");
    wait_readable(replica, 1000);
    fcntl(replica, F_SETFL, O_NONBLOCK);
    n = read(replica, none, sizeof none);
    CHECK("VMIN 2, non-blocking: what is there is read", n == 1 && none[0] == 'c', "%zd", n);
    fcntl(replica, F_SETFL, 0);
    t.c_cc[VTIME] = 1;
    tcsetattr(replica, TCSANOW, &t);
    type("d");
    n = read(replica, none, sizeof none);
    CHECK("VMIN 2 VTIME 1: one byte, then a tenth of a second without another, reads it",
          n == 1 && none[0] == 'd', "%zd", n);
    fcntl(replica, F_SETFL, O_NONBLOCK);

    tcsetattr(replica, TCSANOW, &initial);
    type("drop me\n");
    CHECK_OK("TCFLSH input", tcflush(replica, TCIFLUSH));
    expect("flushed input is gone", from_replica(), "(EAGAIN)");
    drain_master();
    CHECK_OK("TCFLSH output", tcflush(replica, TCOFLUSH));

    struct termios back;
    tcgetattr(replica, &back);
    CHECK("tcsetattr then tcgetattr round-trips",
          back.c_lflag == initial.c_lflag && back.c_iflag == initial.c_iflag &&
              back.c_oflag == initial.c_oflag &&
              memcmp(back.c_cc, initial.c_cc, sizeof initial.c_cc) == 0,
          "lflag %o", back.c_lflag);
    struct kernel_termios2 t2;
    CHECK_OK("TCGETS2", ioctl(replica, KERNEL_TCGETS2, &t2));
    CHECK("termios2 speeds are 38400", t2.c_ispeed == 38400 && t2.c_ospeed == 38400, "%u %u",
          t2.c_ispeed, t2.c_ospeed);
    t2.c_lflag &= ~ECHO;
    CHECK_OK("TCSETS2", ioctl(replica, KERNEL_TCSETS2, &t2));
    tcgetattr(replica, &back);
    CHECK("TCSETS2 changes the flags", !(back.c_lflag & ECHO), "%o", back.c_lflag);

    struct pollfd pfd = {.fd = replica, .events = POLLIN | POLLOUT};
    poll(&pfd, 1, 0);
    CHECK("an empty replica is writable, not readable", pfd.revents == POLLOUT, "%#x",
          pfd.revents);
    type("line\n");
    wait_readable(replica, 1000);
    poll(&pfd, 1, 0);
    CHECK("a complete line makes it readable", pfd.revents == (POLLIN | POLLOUT), "%#x",
          pfd.revents);
    return check_finish();
}
