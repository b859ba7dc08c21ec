"""An interactive bash on a pty, driven as a user would: a foreground `cat` echoing typed
lines, ^Z to stop it, `jobs`, `fg`, ^C, a `sleep` stopped and continued in the background
with `bg` and killed, then `exit`. Each step waits for bash's prompt, so the transcript (printed with
the pty's \\r\\n as \\n) is the same on every run."""
import os, pty, select, sys

PROMPT = b"PROMPT> "
LIMIT = 20.0  # seconds: a hang guard, never reached when things work

pid, master = pty.fork()
if pid == 0:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PS1": PROMPT.decode(),
           "TERM": "dumb", "HOME": "/"}
    os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "--noediting", "-i"], env)

transcript = b""


def read_until(marker, count=1):
    """Reads the master until `marker` has appeared `count` more times."""
    global transcript
    start = len(transcript)
    while transcript[start:].count(marker) < count:
        ready, _, _ = select.select([master], [], [], LIMIT)
        if not ready:
            sys.exit(f"hang: waiting for {marker!r} after {transcript[start:]!r}")
        try:
            data = os.read(master, 4096)
        except OSError:
            data = b""
        if not data:
            sys.exit(f"bash went away waiting for {marker!r}")
        transcript += data


def send(keys, *wait):
    os.write(master, keys)
    read_until(*wait)


read_until(PROMPT)
send(b"cat\n", b"cat\r\n")
send(b"hello\n", b"hello\r\n", 2)          # the echo, then cat's copy
send(b"\x1a", PROMPT)                      # ^Z: bash reports the stopped job
send(b"jobs\n", PROMPT)
send(b"fg\n", b"cat\r\n")                  # bash names the job it continues
send(b"again\n", b"again\r\n", 2)
send(b"\x03", PROMPT)                      # ^C ends cat
send(b"echo status $?\n", PROMPT)
# It says so once it runs in the foreground, so the ^Z can't reach bash instead.
send(b"sh -c 'echo started; exec sleep 1000'\n", b"started\r\n")
send(b"\x1a", PROMPT)
send(b"bg\n", PROMPT)
send(b"jobs\n", PROMPT)
send(b"kill %1; wait %1; echo killed $?\n", PROMPT)
send(b"jobs; echo done\n", PROMPT)
os.write(master, b"exit\n")
while True:
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    transcript += data
_, status = os.waitpid(pid, 0)
# Whether bash notices the killed job ("[1]+  Terminated ...") before its next prompt or not
# at all depends on when its SIGCHLD comes: that notice is left out; `echo killed $?` shows
# the kill.
lines = transcript.decode().replace("\r\n", "\n").splitlines(keepends=True)
sys.stdout.write("".join(line for line in lines if "Terminated" not in line))
print(f"[bash exit status {os.waitstatus_to_exitcode(status)}]")
