#include <stdio.h>
int main(void) { puts("hello from meson"); return 0; }
