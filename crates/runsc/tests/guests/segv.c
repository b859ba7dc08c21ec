// Writes a line, then stores through a null pointer: the process must die of SIGSEGV.
#include <unistd.h>

int main(void) {
  write(1, "before\n", 7);
  *(volatile int *)8 = 1;
  write(1, "after\n", 6);
  return 0;
}
