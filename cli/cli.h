/* kumo's command-line front end: a thin client of include/kumo.h. Each command is a function
 * cmd_<name>(argc, argv) with argv[0] = the command name; it returns the process exit status. */
#ifndef KUMO_CLI_H
#define KUMO_CLI_H
#include <stdbool.h>
#include <stdint.h>

#include "kumo.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage;   /* full --help text */
} cli_command;

/* Option parsing: at argv[*i] with option name matched, consume its value into *out.
 * They print a clear error and return false on a missing or malformed value. */
bool cli_take_str(int argc, char **argv, int *i, const char **out);
bool cli_take_int(int argc, char **argv, int *i, int *out);
bool cli_take_float(int argc, char **argv, int *i, float *out);
bool cli_take_u64(int argc, char **argv, int *i, uint64_t *out);
/* --kv-type f16|f32 */
bool cli_take_kv_type(int argc, char **argv, int *i, kumo_kv_type *out);
const char *cli_kv_type_name(kumo_kv_type t);   /* "f16" / "f32" */
/* The sampling options of run and chat (--temp, --top-k, --top-p, --min-p, --repeat-penalty,
 * --repeat-last-n, -s/--seed): false when argv[*i] is none of them; else true, with *ok false when its
 * value was missing or malformed (already reported). */
bool cli_take_sampler_option(int argc, char **argv, int *i, kumo_sampler_params *sp, bool *ok);
bool cli_is_help(const char *arg);
/* Prints "kumo <cmd>: <message>" to stderr; returns 1 (the exit status for errors). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const cli_command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL with errno on failure. */
char *cli_read_file(const char *path, size_t *len);
/* The prompt: `text` (-p), or the whole file `path` (-f) when given, in a malloc'd buffer left in
 * *owned for the caller to free. NULL after printing the error when the file cannot be read. */
const char *cli_prompt_text(const char *cmd, const char *text, const char *path, size_t *len, char **owned);
/* Loads a model, printing the error on failure. */
kumo_model *cli_load_model(const char *cmd, const char *path, bool vocab_only);
/* Tokenizes, growing the output as needed; returns a malloc'd array and its length in *n. */
kumo_token *cli_tokenize(const kumo_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                         int *n);
double cli_now(void);

typedef struct cli_progress_state {
    bool tty, verbose;
    double t0;
} cli_progress_state;
void cli_progress_init(cli_progress_state *st, bool verbose);
/* A kumo_progress_fn; ud is a cli_progress_state. */
void cli_progress(void *ud, int i, int n, const char *tensor, const char *from, const char *to);
void cli_progress_done(cli_progress_state *st);

extern const cli_command CMD_QUANTIZE, CMD_SYNTH, CMD_BENCH, CMD_CHAT;
extern const cli_command CMD_RUN, CMD_LOGITS, CMD_TOKENIZE, CMD_INFO, CMD_PERPLEXITY;
#endif
