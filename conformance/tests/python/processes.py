"""python3: threads, subprocess, os.fork/pipe/waitpid, signal handlers, select and epoll,
time.sleep."""
import os, select, signal, subprocess, sys, threading, time

results = []
lock = threading.Lock()
def worker(i):
    time.sleep(0.01)
    with lock:
        results.append(i * i)
threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("threads:", sorted(results))

barrier = threading.Barrier(4)
hits = []
def meet():
    barrier.wait(); hits.append(1)
ts = [threading.Thread(target=meet) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print("barrier:", len(hits))

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, b"from the child"); os._exit(3)
os.close(w)
print("fork/pipe:", os.read(r, 100).decode())
_, status = os.waitpid(pid, 0)
print("waitpid:", os.WIFEXITED(status), os.WEXITSTATUS(status))

out = subprocess.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 4"], capture_output=True)
print("subprocess:", out.returncode, out.stdout, out.stderr)
print("check_output:", subprocess.check_output(["/bin/echo", "hi"]).decode().strip())
p = subprocess.Popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
print("communicate:", p.communicate(b"through cat")[0].decode(), p.returncode)
p = subprocess.Popen(["/bin/sleep", "10"]); p.terminate(); print("terminated:", p.wait())

got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(0.3)
print("signal handlers:", got)

r, w = os.pipe()
print("select empty:", select.select([r], [], [], 0.05))
os.write(w, b"x")
print("select ready:", select.select([r], [], [], 1)[0] == [r])
ep = select.epoll()
ep.register(r, select.EPOLLIN)
print("epoll:", ep.poll(1) == [(r, select.EPOLLIN)])
poller = select.poll(); poller.register(r, select.POLLIN)
print("poll:", poller.poll(100) == [(r, select.POLLIN)])

start = time.monotonic(); time.sleep(0.2); slept = time.monotonic() - start
print("time.sleep 0.2s:", 0.19 < slept < 1.0)
sys.exit(0)
