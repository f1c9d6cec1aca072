/* kumo tokenize: text → one line of token ids. Works with vocab-only GGUF files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command CMD_TOKENIZE = {
    "tokenize", run, "print the token ids of a text",
    "usage: kumo tokenize -m MODEL [options] [-f FILE | TEXT]\n"
    "  Prints the ids separated by spaces on one line. MODEL may be a vocab-only GGUF.\n\n"
    "  -m, --model FILE   GGUF model or vocab file (required)\n"
    "  -f, --file FILE    tokenize the bytes of FILE exactly (no newline handling)\n"
    "      --no-bos       do not add BOS/EOS even if the vocab asks for them\n"
    "      --special      match control tokens (<|im_start|>, <s>, ...) written in the text\n"
    "      --pieces       print each token as id:'piece' instead of bare ids\n",
};

static int run(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *text = NULL;
    bool add_special = true, parse_special = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = cli_take_str(argc, argv, &i, &model_path);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = cli_take_str(argc, argv, &i, &file);
        else if (!strcmp(a, "--no-bos")) add_special = false;
        else if (!strcmp(a, "--special")) parse_special = true;
        else if (!strcmp(a, "--pieces")) pieces = true;
        else if (a[0] == '-' && a[1] && !text) return cli_usage_error(&CMD_TOKENIZE, "unknown option '%s'", a);
        else if (!text) text = a;
        else return cli_usage_error(&CMD_TOKENIZE, "only one TEXT argument is accepted");
        if (!ok) return 2;
    }
    if (!model_path) return cli_usage_error(&CMD_TOKENIZE, "a model is required (-m FILE)");
    if (!!file == !!text) return cli_usage_error(&CMD_TOKENIZE, "give exactly one of TEXT or -f FILE");
    size_t len = text ? strlen(text) : 0;
    char *buf = NULL;
    if (file) {
        buf = cli_read_file(file, &len);
        if (!buf) return cli_fail("tokenize", "cannot read %s: %s", file, strerror(errno));
        text = buf;
    }
    kumo_model *m = cli_load_model("tokenize", model_path, true);
    if (!m) {
        free(buf);
        return 1;
    }
    int n = 0, rc = 0;
    kumo_token *ids = cli_tokenize(m, text, len, add_special, parse_special, &n);
    if (!ids) {
        rc = cli_fail("tokenize", "tokenization failed");
    } else {
        char piece[512];
        for (int i = 0; i < n; i++) {
            if (i) putchar(' ');
            if (pieces) {
                int np = kumo_token_to_piece(m, ids[i], piece, sizeof piece - 1, true);
                printf("%d:'%.*s'", ids[i], np > 0 ? np : 0, piece);
            } else {
                printf("%d", ids[i]);
            }
        }
        putchar('\n');
    }
    free(ids);
    free(buf);
    kumo_model_free(m);
    return rc;
}
