/* kumo <command> [options]: dispatch to the commands in cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command *const COMMANDS[] = {&CMD_RUN, &CMD_CHAT, &CMD_LOGITS, &CMD_TOKENIZE, &CMD_INFO, &CMD_PERPLEXITY, &CMD_QUANTIZE, &CMD_SYNTH, &CMD_BENCH};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_help(FILE *f) {
    fprintf(f, "kumo — run open-weight LLMs from GGUF files on your CPU\n\n"
               "usage: kumo <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-11s %s\n", COMMANDS[i]->name, COMMANDS[i]->summary);
    fprintf(f, "  %-11s %s\n", "help", "this text; `kumo help COMMAND` or `kumo COMMAND --help` for a command");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || cli_is_help(name)) {
        if (argc > 2)
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(COMMANDS[i]->name, argv[2]) == 0) {
                    fputs(COMMANDS[i]->usage, stdout);
                    return 0;
                }
        print_help(stdout);
        return argc > 2 ? 2 : 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(COMMANDS[i]->name, name) != 0) continue;
        for (int a = 2; a < argc; a++)
            if (cli_is_help(argv[a])) {
                fputs(COMMANDS[i]->usage, stdout);
                return 0;
            }
        return COMMANDS[i]->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kumo: unknown command '%s'\n\n", name);
    print_help(stderr);
    return 2;
}
