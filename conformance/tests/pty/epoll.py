"""epoll on both ends of a pty: idle ends aren't readable; a typed line makes the replica
readable (the line) and the master readable (its echo); after the master closes, the replica
reports EPOLLIN|EPOLLHUP|EPOLLERR. Linux moves bytes between the ends asynchronously, so each
step waits (a hang guard bounds it) until the expected events are all there."""
import os, pty, select, sys, time

master, replica = pty.openpty()
ep = select.epoll()
ep.register(replica, select.EPOLLIN)
ep.register(master, select.EPOLLIN)
names = {master: "master", replica: "replica"}


def events(want=None):
    """The ready ends and their events, once `want` of them are ready (hang guard 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        ready = {names[fd]: ev for fd, ev in ep.poll(0.1)}
        if want is None or len(ready) >= want or time.monotonic() > deadline:
            return sorted(ready.items())


print("idle:", events())
os.write(master, b"x\n")
print("after typing a line:", events(2))
print("replica reads", os.read(replica, 10), "master reads", os.read(master, 10))
print("drained:", events())
ep.unregister(master)
os.close(master)
hup = events(1)
print("after the master closed:", hup,
      "(EPOLLIN|EPOLLERR|EPOLLHUP)" if hup == [("replica", select.EPOLLIN | select.EPOLLERR
                                                 | select.EPOLLHUP)] else "(unexpected)")
sys.exit(0)
