/*
 * medseal keys: placeholder until its issue lands (see README).
 */
#include "commands.h"

int cmd_keys(int argc, char **argv)
{
    (void)argc;
    cli_error(argv[0], "not implemented yet");
    return 2;
}
