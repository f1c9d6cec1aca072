/* The kumo command as a user meets it: help, the documented outputs, and one clear line on stderr
 * with a non-zero exit for every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

/* Runs `kumo ARGS`, capturing stdout and stderr separately. */
static char *kumo(const char *args, int *status, char **err_out) {
    char errpath[64], cmd[4096];
    snprintf(errpath, sizeof errpath, "/tmp/kumo-cli-err-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s %s 2>%s", kumo_bin(), args, errpath);
    char *out = run_capture(cmd, status);
    assert_non_null(out);
    char *e = read_file(errpath, NULL);
    unlink(errpath);
    if (err_out) *err_out = e ? e : strdup("");
    else free(e);
    return out;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void help_lists_every_command_and_flag(void **state) {
    (void)state;
    int st;
    char *out = kumo("help", &st, NULL);
    assert_int_equal(st, 0);
    const char *cmds[] = {"run", "chat", "logits", "tokenize", "info", "perplexity", "quantize", "synth", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) assert_non_null(strstr(out, cmds[i]));
    free(out);
    out = kumo("run --help", &st, NULL);
    assert_int_equal(st, 0);
    const char *flags[] = {"-m", "-p", "-n", "--temp", "--top-k", "--top-p", "--min-p", "--seed", "-t", "--repeat-penalty"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) assert_non_null(strstr(out, flags[i]));
    free(out);
    out = kumo("frobnicate", &st, NULL);
    assert_int_not_equal(st, 0);
    free(out);
}

static void tokenize_matches_reference_ids(void **state) {
    (void)state;
    char args[1024];
    int st;
    /* golden/stories260K.json prompt 1: "Once upon a time" -> 1 403 407 261 378 */
    snprintf(args, sizeof args, "tokenize -m %s \"Once upon a time\"", shared_path("models/stories260K.gguf"));
    char *out = kumo(args, &st, NULL);
    assert_int_equal(st, 0);
    assert_string_equal(out, "1 403 407 261 378\n");
    free(out);
    snprintf(args, sizeof args, "tokenize --no-bos -m %s \"Once upon a time\"", shared_path("models/stories260K.gguf"));
    out = kumo(args, &st, NULL);
    assert_string_equal(out, "403 407 261 378\n");
    free(out);
}

static void logits_json_has_reference_layout(void **state) {
    (void)state;
    char args[1024];
    int st;
    snprintf(args, sizeof args, "logits -m %s -p \"Once upon a time\" -n 4 -t 2", shared_path("models/stories260K.gguf"));
    char *out = kumo(args, &st, NULL);
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "prompts"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "tokens")), 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "prompt_logits")), 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "prompt_logits"), 0)), 512);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "greedy_tokens")), 4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "greedy_logits")), 4);
    /* golden/stories260K.json: greedy continuation of prompt 1 starts 432 383 286 261 */
    int want[4] = {432, 383, 286, 261};
    for (int i = 0; i < 4; i++) assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "greedy_tokens"), i)->valueint, want[i]);
    cJSON_Delete(j);
    free(out);
}

static void run_generates_and_reports_timing(void **state) {
    (void)state;
    char args[1024];
    int st;
    char *err;
    snprintf(args, sizeof args, "run -m %s -p \"Once upon a time\" -n 20 --temp 0 -t 2", shared_path("models/stories260K.gguf"));
    char *out = kumo(args, &st, &err);
    assert_int_equal(st, 0);
    /* greedy text of golden/stories260K.json prompt 1 begins " there was a little girl" */
    assert_non_null(strstr(out, "there was"));
    assert_non_null(strstr(err, "tok/s"));
    free(out);
    free(err);
    /* sampling with a seed is reproducible */
    snprintf(args, sizeof args, "run -m %s -p \"Lily\" -n 30 --temp 1 --seed 7", shared_path("models/stories260K.gguf"));
    char *a = kumo(args, &st, NULL), *b = kumo(args, &st, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

/* kumo chat: a multi-turn conversation from stdin; each reply on its own line; Ctrl-D (EOF) ends. */
static void chat_answers_each_line_until_eof(void **state) {
    (void)state;
    char args[1024];
    int st;
    char *err;
    snprintf(args, sizeof args, "chat -m %s --chat-template chatml -n 8 --temp 0 < /dev/null", shared_path("models/stories260K.gguf"));
    char *out = kumo(args, &st, &err);
    assert_int_equal(st, 0); /* immediate EOF: a clean exit */
    free(out);
    free(err);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "printf 'Hello\\nOnce upon a time\\n' | %s chat -m %s --chat-template chatml -n 8 --temp 0 2>/dev/null",
             kumo_bin(), shared_path("models/stories260K.gguf"));
    out = run_capture(cmd, &st);
    assert_int_equal(st, 0);
    assert_int_equal(count_lines(out), 2);
    free(out);
    snprintf(args, sizeof args, "chat -m %s --chat-template vicuna-9000 < /dev/null", shared_path("models/stories260K.gguf"));
    out = kumo(args, &st, &err);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(err, "unknown chat template"));
    free(out);
    free(err);
}

static void info_describes_model(void **state) {
    (void)state;
    char args[1024];
    int st;
    snprintf(args, sizeof args, "info -m %s", shared_path("models/tiny-qwen3moe-q4_k_m.gguf"));
    char *out = kumo(args, &st, NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "qwen3moe"));
    assert_non_null(strstr(out, "experts:         8, 2 used per token"));
    assert_non_null(strstr(out, "active params"));
    assert_non_null(strstr(out, "q4_K"));
    assert_non_null(strstr(out, "q6_K"));
    free(out);
}

/* Every error: non-zero status, nothing on stdout, exactly one line on stderr naming the problem. */
static void expect_one_line_error(const char *args, const char *needle) {
    int st;
    char *err;
    char *out = kumo(args, &st, &err);
    printf("  kumo %.60s... -> %s", args, err);
    assert_int_not_equal(st, 0);
    assert_string_equal(out, "");
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, needle));
    free(out);
    free(err);
}

static void errors_are_one_clear_line(void **state) {
    (void)state;
    char args[2048];
    expect_one_line_error("run -m /no/such/model.gguf -p hi", "/no/such/model.gguf");
    /* a truncated copy of a real model */
    const char *trunc = "/tmp/kumo-cli-truncated.gguf";
    size_t len;
    char *data = read_file(shared_path("models/stories260K.gguf"), &len);
    FILE *f = fopen(trunc, "wb");
    fwrite(data, 1, len / 2, f);
    fclose(f);
    free(data);
    snprintf(args, sizeof args, "run -m %s -p hi", trunc);
    expect_one_line_error(args, "past end of file");
    unlink(trunc);
    /* not a GGUF at all */
    snprintf(args, sizeof args, "info -m %s", shared_path("text/story.txt"));
    expect_one_line_error(args, "magic");
    /* prompt longer than the context */
    snprintf(args, sizeof args, "run -m %s -c 8 -p \"Once upon a time there was a little girl named Lily\"",
             shared_path("models/stories260K.gguf"));
    expect_one_line_error(args, "longer than the context");
    /* an architecture kumo does not run (yet) */
    snprintf(args, sizeof args, "logits -m %s -p hi", shared_path("models/tiny-deepseek2-q8_0.gguf"));
    expect_one_line_error(args, "deepseek2");
    snprintf(args, sizeof args, "run -m %s -n lots", shared_path("models/stories260K.gguf"));
    expect_one_line_error(args, "expects an integer");
}

/* Max |Δ| between the prompt logits of two `kumo logits` outputs; -1 if their shapes differ. */
static double prompt_logits_max_diff(const char *a_json, const char *b_json) {
    cJSON *a = cJSON_Parse(a_json), *b = cJSON_Parse(b_json);
    assert_non_null(a);
    assert_non_null(b);
    const cJSON *pa = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "prompts"), 0), "prompt_logits");
    const cJSON *pb = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "prompts"), 0), "prompt_logits");
    double mx = cJSON_GetArraySize(pa) == cJSON_GetArraySize(pb) && cJSON_GetArraySize(pa) > 0 ? 0.0 : -1.0;
    for (int r = 0; mx >= 0 && r < cJSON_GetArraySize(pa); r++) {
        const cJSON *ra = cJSON_GetArrayItem(pa, r), *rb = cJSON_GetArrayItem(pb, r);
        if (cJSON_GetArraySize(ra) != cJSON_GetArraySize(rb)) mx = -1.0;
        for (int i = 0; mx >= 0 && i < cJSON_GetArraySize(ra); i++) {
            double d = cJSON_GetArrayItem(ra, i)->valuedouble - cJSON_GetArrayItem(rb, i)->valuedouble;
            if (d < 0) d = -d;
            if (d > mx) mx = d;
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return mx;
}

/* `kumo bench -m stories260K OPTS --json`: it exits 0 and prints one JSON object, returned parsed. */
static cJSON *bench_json(const char *opts) {
    char args[2048];
    int st;
    snprintf(args, sizeof args, "bench -m %s %s --json", shared_path("models/stories260K.gguf"), opts);
    char *out = kumo(args, &st, NULL);
    assert_int_equal(st, 0);
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    return j;
}

/* --kv-type f16|f32 on every command that makes a context: documented, takes effect, and a bad
 * value is one line on stderr with a non-zero exit. */
static void kv_type_option(void **state) {
    (void)state;
    const char *model = shared_path("models/stories260K.gguf");
    const char *cmds[] = {"run", "chat", "logits", "perplexity", "bench"};
    char args[2048];
    int st;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        char *out = kumo(args, &st, NULL);
        assert_int_equal(st, 0);
        assert_non_null(strstr(out, "--kv-type"));
        free(out);
        snprintf(args, sizeof args, "%s -m %s --kv-type q8_0 < /dev/null", cmds[i], model);
        expect_one_line_error(args, "expects f16 or f32, got 'q8_0'");
    }
    snprintf(args, sizeof args, "run -m %s --kv-type", model);
    expect_one_line_error(args, "needs a value");
    /* both types run; the cache type changes the logits a little (K/V rounded to halves), not the
     * greedy continuation of golden/stories260K.json prompt 1 (432 383 286 261) */
    char *json[2];
    const char *types[2] = {"f16", "f32"};
    for (int t = 0; t < 2; t++) {
        snprintf(args, sizeof args, "logits -m %s -p \"Once upon a time\" -n 4 -t 2 --kv-type %s", model, types[t]);
        json[t] = kumo(args, &st, NULL);
        assert_int_equal(st, 0);
        cJSON *j = cJSON_Parse(json[t]);
        assert_non_null(j);
        const cJSON *g = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "prompts"), 0), "greedy_tokens");
        const int want[4] = {432, 383, 286, 261};
        for (int i = 0; i < 4; i++) assert_int_equal(cJSON_GetArrayItem(g, i)->valueint, want[i]);
        /* the settings name the cache type the run used */
        const cJSON *kv = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "kv_cache");
        assert_true(cJSON_IsString(kv));
        assert_string_equal(kv->valuestring, types[t]);
        cJSON_Delete(j);
    }
    const double d = prompt_logits_max_diff(json[0], json[1]);
    printf("  logits --kv-type f16 vs f32: max |delta| %.3g\n", d);
    assert_true(d > 0.0 && d < 0.1);
    free(json[0]);
    free(json[1]);
    /* bench reports the type it ran with; f16 by default */
    for (int t = 0; t < 3; t++) {
        snprintf(args, sizeof args, "-p 8 -n 4 -r 1 -t 2%s%s", t < 2 ? " --kv-type " : "", t < 2 ? types[t] : "");
        cJSON *j = bench_json(args);
        const cJSON *kv = cJSON_GetObjectItem(j, "kv_type");
        assert_non_null(kv);
        assert_string_equal(kv->valuestring, t < 2 ? types[t] : "f16");
        cJSON_Delete(j);
    }
}

/* --roofline times N more tokens, each followed by a plain read of its weights' bytes, and sets the
 * tokens' GB/s against the reads': with one run the share is exactly the one over the other (both
 * printed to 3 decimals). */
static void bench_roofline_option(void **state) {
    (void)state;
    cJSON *j = bench_json("-p 0 -n 4 -r 1 -t 2 --roofline");
    const cJSON *rl = cJSON_GetObjectItem(j, "roofline_gb_s"), *pct = cJSON_GetObjectItem(j, "tg_roofline_pct"),
                *gbs = cJSON_GetObjectItem(j, "tg_gb_s"), *sd = cJSON_GetObjectItem(j, "tg_roofline_pct_stddev"),
                *paired = cJSON_GetObjectItem(j, "tg_paired_gb_s");
    assert_true(cJSON_IsNumber(rl) && cJSON_IsNumber(pct) && cJSON_IsNumber(gbs) && cJSON_IsNumber(sd) &&
                cJSON_IsNumber(paired));
    assert_true(rl->valuedouble > 0.1); /* any machine reads memory faster than 100 MB/s */
    assert_true(gbs->valuedouble > 0.0 && paired->valuedouble > 0.0);
    const double want = 100.0 * paired->valuedouble / rl->valuedouble;
    assert_true(fabs(pct->valuedouble - want) <= 0.01 * want + 0.01);
    assert_true(sd->valuedouble == 0.0); /* one run */
    cJSON_Delete(j);
    /* without the option no roofline is claimed; with -n 0 there is no tg run to set against one */
    const char *variants[2] = {"-p 0 -n 4 -r 1 -t 2", "-p 4 -n 0 -r 1 -t 2 --roofline"};
    for (int v = 0; v < 2; v++) {
        j = bench_json(variants[v]);
        assert_null(cJSON_GetObjectItem(j, "roofline_gb_s"));
        assert_null(cJSON_GetObjectItem(j, "tg_roofline_pct"));
        assert_null(cJSON_GetObjectItem(j, "tg_paired_gb_s"));
        cJSON_Delete(j);
    }
}

/* -d D runs both tests after D tokens already in the cache (llama-bench's --n-depth): the context must
 * hold D + max(P, N) positions, or the decode fails with "cache full"; the text names the tests as
 * llama-bench does ("pp8 @ d600"). 600 > the 512-token batch, so the depth goes in as two batches. */
static void bench_depth_option(void **state) {
    (void)state;
    const char *model = shared_path("models/stories260K.gguf");
    char args[2048];
    int st;
    cJSON *j = bench_json("-p 8 -n 4 -d 600 -r 1 -t 2");
    const cJSON *d = cJSON_GetObjectItem(j, "n_depth"), *pp = cJSON_GetObjectItem(j, "pp_tok_s"),
                *tg = cJSON_GetObjectItem(j, "tg_tok_s");
    assert_true(cJSON_IsNumber(d) && cJSON_IsNumber(pp) && cJSON_IsNumber(tg));
    assert_int_equal(d->valueint, 600);
    assert_true(pp->valuedouble > 0.0 && tg->valuedouble > 0.0);
    cJSON_Delete(j);
    snprintf(args, sizeof args, "bench -m %s -p 8 -n 4 -d 600 -r 1 -t 2", model);
    char *out = kumo(args, &st, NULL);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "| pp8 @ d600 |"));
    assert_non_null(strstr(out, "| tg4 @ d600 |"));
    free(out);
    char *err = NULL;
    snprintf(args, sizeof args, "bench -m %s -d -1", model);
    out = kumo(args, &st, &err);
    assert_int_equal(st, 2);
    assert_non_null(strstr(err, "-d"));
    free(err);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_lists_every_command_and_flag),
        cmocka_unit_test(tokenize_matches_reference_ids),
        cmocka_unit_test(logits_json_has_reference_layout),
        cmocka_unit_test(run_generates_and_reports_timing),
        cmocka_unit_test(chat_answers_each_line_until_eof),
        cmocka_unit_test(info_describes_model),
        cmocka_unit_test(errors_are_one_clear_line),
        cmocka_unit_test(kv_type_option),
        cmocka_unit_test(bench_roofline_option),
        cmocka_unit_test(bench_depth_option),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
