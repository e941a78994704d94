// SPDX-License-Identifier: MIT
/* placeholder, replaced below */
#include "cli.h"
int st_cmd_latency_path(int argc, char **argv) { (void)argc; (void)argv; return 1; }
