/* Token sampling: repetition penalty → top-k → top-p → min-p → temperature → draw, or greedy.
 * The random generator (xoshiro256**, seeded through splitmix64) lives in the sampler, so the same
 * seed gives the same tokens and samplers never share state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kumo.h"
#include "util/splitmix.h"

typedef struct {
    int id;
    float logit;
    float p;
} candidate;

struct kumo_sampler {
    kumo_sampler_params p;
    uint64_t rng[4];
    kumo_token *recent;      /* ring buffer of the last repeat_last_n accepted tokens */
    int n_recent, recent_head;
    candidate *cand;
    int cand_cap;
};

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0); }

kumo_sampler_params kumo_sampler_default_params(void) {
    kumo_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .seed = 0,
    };
    return p;
}

kumo_sampler *kumo_sampler_new(const kumo_sampler_params *params) {
    kumo_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = params ? *params : kumo_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    if (s->p.repeat_last_n > 0) {
        s->recent = calloc((size_t)s->p.repeat_last_n, sizeof *s->recent);
        if (!s->recent) {
            free(s);
            return NULL;
        }
    }
    return s;
}

void kumo_sampler_free(kumo_sampler *s) {
    if (!s) return;
    free(s->recent);
    free(s->cand);
    free(s);
}

void kumo_sampler_accept(kumo_sampler *s, kumo_token t) {
    if (s->p.repeat_last_n <= 0) return;
    s->recent[s->recent_head] = t;
    s->recent_head = (s->recent_head + 1) % s->p.repeat_last_n;
    if (s->n_recent < s->p.repeat_last_n) s->n_recent++;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmp_logit_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

static bool recently_seen(const kumo_sampler *s, int id) {
    for (int i = 0; i < s->n_recent; i++)
        if (s->recent[i] == id) return true;
    return false;
}

kumo_token kumo_sampler_sample(kumo_sampler *s, const float *logits, int n_vocab) {
    const kumo_sampler_params *p = &s->p;
    bool penalize = p->repeat_penalty != 1.0f && s->n_recent > 0;
    if (p->temperature <= 0.0f && !penalize) return argmax(logits, n_vocab);
    if (s->cand_cap < n_vocab) {
        candidate *c = realloc(s->cand, (size_t)n_vocab * sizeof *c);
        if (!c) return argmax(logits, n_vocab);
        s->cand = c;
        s->cand_cap = n_vocab;
    }
    candidate *c = s->cand;
    for (int i = 0; i < n_vocab; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
        /* llama.cpp's convention: shrink positive logits, push negative ones further down */
        if (penalize && recently_seen(s, i))
            c[i].logit = c[i].logit > 0 ? c[i].logit / p->repeat_penalty : c[i].logit * p->repeat_penalty;
    }
    if (p->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    int n = n_vocab;
    qsort(c, (size_t)n, sizeof *c, cmp_logit_desc);
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    /* probabilities at temperature 1 for the truncations, as llama.cpp's chain does before temp */
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (c[i].p = expf(c[i].logit - c[0].logit));
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += c[i].p / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        int keep = 1;
        while (keep < n && c[keep].p >= p->min_p * c[0].p) keep++;
        n = keep;
    }
    sum = 0.0;
    for (int i = 0; i < n; i++) sum += (c[i].p = expf((c[i].logit - c[0].logit) / p->temperature));
    double r = rng_uniform(s->rng) * sum, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
