// SPDX-License-Identifier: MIT
#include "cpu.h"
#include "opts.h"
int cpu_top(int argc, char **argv) { (void)argc; (void)argv; return ST_EXIT_FAIL; }
