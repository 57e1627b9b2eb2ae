#include <stdio.h>
#include <stdlib.h>
#include "calc.h"
int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: calc A B\n"); return 2; }
  printf("%d\n", calc_add(atoi(argv[1]), atoi(argv[2])));
  return 0;
}
