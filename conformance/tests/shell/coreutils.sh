# coreutils over a tree in the scratch directory (under the sandbox's /tmp): ls, sort, seq, sha256sum,
# date, head, tail, xargs, find.
set -eu
mkdir -p "$TEST_TMPDIR"  # made if absent, as check.h does
cd "$TEST_TMPDIR"
rm -rf tree && mkdir -p tree/a/b tree/c
seq 1 100 > tree/a/numbers
printf 'pear\napple\nfig\n' > tree/c/fruit
echo hidden > tree/.dot
ln -s ../c/fruit tree/a/link
echo "ls: $(ls tree | paste -sd' ')"
echo "ls -A: $(ls -A tree | paste -sd' ')"
echo "ls -l modes: $(ls -l tree/c | awk 'NR>1 {print $1, $NF}' | paste -sd' ')"
echo "sort: $(sort tree/c/fruit | paste -sd' ')"
echo "sort -n -r: $(sort -n -r tree/a/numbers | head -3 | paste -sd' ')"
echo "seq: $(seq -s, 5 -2 -3)"
sha256sum tree/a/numbers tree/c/fruit
echo "head/tail: $(head -2 tree/a/numbers | paste -sd' ') / $(tail -n 2 tree/a/numbers | paste -sd' ')"
echo "tail -c: $(tail -c 4 tree/a/numbers | od -An -c | tr -s ' ')"
echo "date is UTC 1970+: $(date -u -d @0 +%Y-%m-%dT%H:%M:%S)"
echo "date now is after 2024: $([ "$(date +%Y)" -ge 2024 ] && echo yes)"
echo "find: $(find tree | sort | paste -sd' ')"
echo "find -type f: $(find tree -type f -name '*u*' | sort | paste -sd' ')"
echo "find -type l: $(find tree -type l)"
echo "xargs: $(find tree -type f | sort | xargs wc -l | tail -1)"
echo "xargs -n1: $(seq 3 | xargs -n1 echo n | paste -sd,)"
echo "readlink: $(readlink tree/a/link) $(cat tree/a/link | head -1)"
cp -r tree copy && diff -r tree copy && echo "cp -r, diff -r: same"
mv copy moved && rm -r moved && echo "mv, rm -r: done, moved exists: $([ -e moved ] && echo yes || echo no)"
wc -c < tree/a/numbers
