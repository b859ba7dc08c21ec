// Prints its arguments and selected environment variables, then exits with the code in argv[1].
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

static const char *const names[] = {"GREETING", "OVERRIDE", "ADDED", "TZ", "UNSET_IN_BOTH"};

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; i++) printf("argv[%d]=[%s]\n", i, argv[i]);
  int envc = 0;
  while (environ[envc]) envc++;
  printf("envc=%d\n", envc);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *value = getenv(names[i]);
    if (value)
      printf("%s=[%s]\n", names[i], value);
    else
      printf("%s unset\n", names[i]);
  }
  return argc > 1 ? atoi(argv[1]) : 0;
}
