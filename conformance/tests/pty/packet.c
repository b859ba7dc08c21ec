/* Packet mode (TIOCPKT): master reads start with a status byte, TIOCPKT_DATA before data,
 * or a lone status byte for flushes (TCFLSH) and output stops and starts (TCXONC). */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include "../check.h"

static int master, replica;

/* One master read, once something is readable (a hang guard of a second). */
static ssize_t master_read(unsigned char *buf, size_t len) {
    struct pollfd pfd = {.fd = master, .events = POLLIN};
    if (poll(&pfd, 1, 1000) != 1)
        return -2;
    return read(master, buf, len);
}

int main(void) {
    unsigned char buf[64];
    int on = 1, mode = -1;
    CHECK_OK("openpty", openpty(&master, &replica, NULL, NULL, NULL));
    struct termios t;
    tcgetattr(replica, &t);
    cfmakeraw(&t);
    tcsetattr(replica, TCSANOW, &t);
    CHECK_OK("TIOCPKT on", ioctl(master, TIOCPKT, &on));
    CHECK_OK("TIOCGPKT", ioctl(master, TIOCGPKT, &mode));
    CHECK("packet mode reads back", mode == 1, "%d", mode);
    CHECK_ERRNO("TIOCPKT on the replica", ioctl(replica, TIOCPKT, &on), ENOTTY);

    CHECK_OK("write to the replica", write(replica, "abc", 3));
    ssize_t n = master_read(buf, sizeof buf);
    CHECK("data comes after a TIOCPKT_DATA byte",
          n == 4 && buf[0] == TIOCPKT_DATA && memcmp(buf + 1, "abc", 3) == 0, "%zd [%d]", n,
          buf[0]);

    CHECK_OK("TCFLSH input from the replica", tcflush(replica, TCIFLUSH));
    n = master_read(buf, sizeof buf);
    CHECK("the master hears TIOCPKT_FLUSHREAD", n == 1 && buf[0] == TIOCPKT_FLUSHREAD,
          "%zd [%d]", n, buf[0]);
    CHECK_OK("TCFLSH output from the replica", tcflush(replica, TCOFLUSH));
    n = master_read(buf, sizeof buf);
    CHECK("the master hears TIOCPKT_FLUSHWRITE", n == 1 && buf[0] == TIOCPKT_FLUSHWRITE,
          "%zd [%d]", n, buf[0]);

    CHECK_OK("TCOOFF", tcflow(replica, TCOOFF));
    n = master_read(buf, sizeof buf);
    CHECK("the master hears TIOCPKT_STOP", n == 1 && buf[0] == TIOCPKT_STOP, "%zd [%d]", n,
          buf[0]);
    fcntl(replica, F_SETFL, O_NONBLOCK);
    CHECK_ERRNO("stopped output doesn't take writes", write(replica, "x", 1), EAGAIN);
    CHECK_OK("TCOON", tcflow(replica, TCOON));
    n = master_read(buf, sizeof buf);
    CHECK("the master hears TIOCPKT_START", n == 1 && buf[0] == TIOCPKT_START, "%zd [%d]", n,
          buf[0]);
    CHECK_OK("output flows again", write(replica, "x", 1));
    n = master_read(buf, sizeof buf);
    CHECK("and reaches the master", n == 2 && buf[0] == TIOCPKT_DATA && buf[1] == 'x',
          "%zd", n);

    int off = 0;
    CHECK_OK("TIOCPKT off", ioctl(master, TIOCPKT, &off));
    write(replica, "y", 1);
    n = master_read(buf, sizeof buf);
    CHECK("without packet mode data comes bare", n == 1 && buf[0] == 'y', "%zd [%d]", n,
          buf[0]);
    return check_finish();
}
