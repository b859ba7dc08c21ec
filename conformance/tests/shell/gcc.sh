# gcc compiles, assembles and links a program inside the sandbox, temporaries in the scratch
# directory (under the sandbox's /tmp), and the program runs.
set -eu
export TMPDIR="$TEST_TMPDIR"
mkdir -p "$TEST_TMPDIR"  # made if absent, as check.h does
cd "$TEST_TMPDIR"
cat > hello.c <<'C'
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    printf("hello from a program built by gcc: %s, %d args\n", argv[1], argc);
    return 7;
}
C
gcc -O2 -Wall -o hello hello.c
set +e
./hello sandbox; echo "exit status: $?"
set -e
gcc -O2 -c hello.c -o hello.o && gcc -static -o hello-static hello.o
./hello-static static || echo "static exit status: $?"
ls hello hello.o hello-static | paste -sd' '
