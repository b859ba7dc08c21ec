# What a new user meets in the first minutes: nproc and the other CPU counts show the host's
# CPUs, bash process substitution works through /dev/fd, and /dev has Linux's stdio links.
set -u
echo "nproc: $(nproc)"
echo "getconf _NPROCESSORS_ONLN: $(getconf _NPROCESSORS_ONLN)"
echo "/proc/cpuinfo processors: $(grep -c '^processor' /proc/cpuinfo)"
echo "/proc/stat cpu lines: $(grep -c '^cpu[0-9]' /proc/stat)"
echo "process substitution: $(cat <(echo hi))"
echo "two substitutions: $(diff <(printf 'a\nb\n') <(printf 'a\nb\n') && echo same)"
echo "output substitution: $(echo out > >(tr a-z A-Z); wait)"
echo "readlink /dev/fd: $(readlink /dev/fd)"
for name in stdin stdout stderr; do
	echo "readlink /dev/$name: $(readlink /dev/$name)"
done
echo "/dev/fd/0 is open: $([ -e /dev/fd/0 ] && echo yes)"
echo "read through /dev/stdin: $(echo piped | cat /dev/stdin)"
echo "piped /dev/stdin is a: $(echo | stat -L -c %F /dev/stdin)"
echo "write to /dev/stderr: $({ echo err > /dev/stderr; } 2>&1)"
