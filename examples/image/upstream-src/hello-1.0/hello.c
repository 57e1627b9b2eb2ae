#include <stdio.h>
int main(void) { puts("hello from an autotools build"); return 0; }
