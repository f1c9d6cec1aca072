/* A one-line progress bar on a terminal (tensor name, percent, ETA); plain lines otherwise. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_progress(void *ud, int i, int n, const char *tensor, const char *from, const char *to) {
    cli_progress_state *st = ud;
    double now = cli_now();
    if (i == 0) st->t0 = now;
    if (!st->tty) {
        if (st->verbose) fprintf(stderr, "[%d/%d] %s %s -> %s\n", i + 1, n, tensor, from, to);
        return;
    }
    double done = n > 0 ? (double)i / n : 0.0, eta = i > 0 ? (now - st->t0) / i * (n - i) : 0.0;
    int width = 30, fill = (int)(done * width);
    char bar[64];
    for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K[%s] %3d%% %4d/%d  ETA %4.0fs  %-40.40s %s -> %s", bar, (int)(done * 100), i + 1, n, eta,
            tensor, from, to);
    fflush(stderr);
}

void cli_progress_done(cli_progress_state *st) {
    if (st->tty) fprintf(stderr, "\r\033[K");
}

void cli_progress_init(cli_progress_state *st, bool verbose) {
    memset(st, 0, sizeof *st);
    st->tty = isatty(STDERR_FILENO);
    st->verbose = verbose;
}
