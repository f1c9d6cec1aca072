/* kumo — LLM inference on CPUs. The only header a client of the library includes.
 *
 * Ownership: every handle returned by a *_new / *_load function is owned by the caller and
 * released with the matching *_free. Errors: functions that can fail take a kumo_error * (may be
 * NULL) and return NULL or a negative status; the error's message names the file, field or tensor
 * and what was expected. There is no global mutable state. */
#ifndef KUMO_H
#define KUMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------- errors ---------- */
enum kumo_status {
    KUMO_OK = 0,
    KUMO_E_IO = -1,          /* file missing, unreadable, mmap failed */
    KUMO_E_FORMAT = -2,      /* corrupt or truncated file, bad metadata */
    KUMO_E_UNSUPPORTED = -3, /* architecture / tensor type / tokenizer not supported */
    KUMO_E_INVALID = -4,     /* bad argument from the caller (e.g. prompt longer than context) */
    KUMO_E_NOMEM = -5,
    KUMO_E_FULL = -6,        /* KV cache / context full */
};

typedef struct kumo_error {
    int code;        /* enum kumo_status */
    char msg[512];
} kumo_error;

typedef int32_t kumo_token;

/* ---------- model ---------- */
typedef struct kumo_model kumo_model;

typedef struct kumo_model_params {
    bool vocab_only;   /* load only the tokenizer (vocab GGUF files have no tensors) */
} kumo_model_params;

kumo_model_params kumo_model_default_params(void);
kumo_model *kumo_model_load(const char *path, const kumo_model_params *params, kumo_error *err);
void kumo_model_free(kumo_model *model);

typedef struct kumo_model_info {
    const char *arch;          /* general.architecture */
    const char *name;          /* general.name or "" */
    int n_vocab, n_ctx_train, n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim_k, head_dim_v;
    int n_expert, n_expert_used, n_ff_expert;
    float rope_freq_base, rope_freq_scale, rms_eps;
    const char *rope_style;    /* "norm" (adjacent pairs) or "neox" (halves) */
    bool tied_output;
    const char *tokenizer;     /* tokenizer.ggml.model */
    uint64_t file_size, n_params, n_params_active;
    uint64_t weight_bytes;            /* bytes of all tensor data */
    uint64_t weight_bytes_per_token;  /* bytes of weights one generated token reads (active experts only) */
    int n_tensors;
} kumo_model_info;
void kumo_model_get_info(const kumo_model *model, kumo_model_info *info);
/* Tensor counts by type for `kumo info`: calls fn(type_name, count, bytes, ud) once per type present. */
void kumo_model_foreach_type(const kumo_model *model,
                             void (*fn)(const char *type_name, int count, uint64_t bytes, void *ud),
                             void *ud);

/* ---------- tokenizer ---------- */
int kumo_n_vocab(const kumo_model *model);
kumo_token kumo_token_bos(const kumo_model *model);   /* -1 when the vocab has none */
kumo_token kumo_token_eos(const kumo_model *model);
bool kumo_token_is_eog(const kumo_model *model, kumo_token t); /* EOS, EOT, other end-of-generation */
bool kumo_add_bos(const kumo_model *model);          /* does the vocab ask for BOS? */

/* Tokenizes text[0..len). add_special adds BOS/EOS as the vocab's flags ask; parse_special matches
 * control tokens in the text as single tokens. Returns the number of tokens written, or, when cap is
 * too small, -(number needed). Returns INT32_MIN on an internal error. */
int kumo_tokenize(const kumo_model *model, const char *text, size_t len, kumo_token *out, int cap,
                  bool add_special, bool parse_special);
/* Writes the bytes of one token (no NUL). special: render control tokens' text. Returns the byte
 * count, or -(needed) when cap is too small. */
int kumo_token_to_piece(const kumo_model *model, kumo_token t, char *buf, int cap, bool special);

/* Streaming detokenization for printing tokens one at a time: emits only complete UTF-8 characters
 * (a character split across tokens is held back until its last byte arrives; ill-formed bytes become
 * U+FFFD), so a terminal never sees a broken character. */
typedef struct kumo_text_stream kumo_text_stream;
kumo_text_stream *kumo_text_stream_new(const kumo_model *model);
void kumo_text_stream_free(kumo_text_stream *s);
/* Appends token t's text; writes the completed characters to out (room for 1024 bytes is always
 * enough) and returns their byte count, or a negative value if t is not a token of the model. */
int kumo_text_stream_push(kumo_text_stream *s, kumo_token t, char *out, int cap);
/* Ends the stream (a held-back incomplete character becomes U+FFFD); returns bytes written. */
int kumo_text_stream_flush(kumo_text_stream *s, char *out, int cap);

/* ---------- chat templates ---------- */
typedef struct kumo_chat_message {
    const char *role;      /* "system", "user", "assistant", ... */
    const char *content;
} kumo_chat_message;

typedef struct kumo_chat_template kumo_chat_template;
/* name NULL: the model's own template (tokenizer.chat_template; ChatML with a warning on stderr when
 * the model has none); otherwise a built-in one: "llama3", "chatml", "mistral", "deepseek3". A
 * template that cannot be parsed is an error naming the construct and its line:column. */
kumo_chat_template *kumo_chat_template_new(const kumo_model *model, const char *name, kumo_error *err);
void kumo_chat_template_free(kumo_chat_template *t);
/* Renders the conversation into *out (malloc'd, NUL-terminated; the caller frees it). As llama.cpp
 * does, a leading BOS text is dropped when the vocab adds BOS itself at tokenization; tokenize the
 * result with add_special = true and parse_special = true. */
int kumo_chat_template_apply(const kumo_chat_template *t, const kumo_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char **out, kumo_error *err);

/* ---------- context: KV cache + batched decode ---------- */
typedef struct kumo_context kumo_context;

/* Element type of the KV cache. F16 (the default, as in llama.cpp) stores K and V rounded to IEEE
 * half, nearest even, and halves the cache's memory; attention still computes in F32. F32 keeps
 * them exact. */
typedef enum kumo_kv_type {
    KUMO_KV_F16 = 0,
    KUMO_KV_F32 = 1,
} kumo_kv_type;

typedef struct kumo_context_params {
    int n_ctx;       /* positions per sequence; 0 = min(model context, 4096) */
    int n_seq_max;   /* independent sequences, each with its own KV cache */
    int n_batch;     /* max tokens in one kumo_decode call; 0 = 512 */
    int n_threads;   /* 0 = number of online cores */
    kumo_kv_type kv_type; /* KV cache element type; default KUMO_KV_F16 */
} kumo_context_params;

kumo_context_params kumo_context_default_params(void);
kumo_context *kumo_context_new(kumo_model *model, const kumo_context_params *params, kumo_error *err);
void kumo_context_free(kumo_context *ctx);
int kumo_context_n_ctx(const kumo_context *ctx);
int kumo_context_n_threads(const kumo_context *ctx);

/* A batch is a list of (token, position, sequence id, want-logits) entries. Entries of several
 * sequences may be mixed; within a sequence, positions must follow that sequence's cache (the next
 * free position) in order. */
typedef struct kumo_batch {
    int n_tokens;
    kumo_token *token;
    int32_t *pos;
    int32_t *seq_id;
    int8_t *logits;   /* non-zero: logits wanted for this entry */
} kumo_batch;

kumo_batch kumo_batch_new(int n_max);
void kumo_batch_free(kumo_batch *batch);
static inline void kumo_batch_clear(kumo_batch *b) { b->n_tokens = 0; }
void kumo_batch_add(kumo_batch *b, kumo_token t, int32_t pos, int32_t seq_id, bool logits);

/* Runs the model over the batch. Returns KUMO_OK, or an error (invalid entry, cache full). */
int kumo_decode(kumo_context *ctx, const kumo_batch *batch, kumo_error *err);
/* Logits (n_vocab floats) of batch entry i of the last kumo_decode; NULL if not requested. */
const float *kumo_get_logits(const kumo_context *ctx, int i);
/* Forget a sequence's cache (positions >= p0 of seq; p0 = 0 clears it). */
void kumo_seq_rm(kumo_context *ctx, int32_t seq_id, int32_t p0);
int32_t kumo_seq_pos_max(const kumo_context *ctx, int32_t seq_id); /* -1 when empty */

/* ---------- sampling ---------- */
typedef struct kumo_sampler kumo_sampler;

typedef struct kumo_sampler_params {
    float temperature;     /* <= 0: greedy */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int repeat_last_n;     /* window of recent tokens the penalty looks at */
    uint64_t seed;
} kumo_sampler_params;

kumo_sampler_params kumo_sampler_default_params(void);
kumo_sampler *kumo_sampler_new(const kumo_sampler_params *params);
void kumo_sampler_free(kumo_sampler *s);
/* Picks a token from logits (n_vocab floats, not modified). */
kumo_token kumo_sampler_sample(kumo_sampler *s, const float *logits, int n_vocab);
/* Records a token in the penalty window (prompt tokens and sampled ones). */
void kumo_sampler_accept(kumo_sampler *s, kumo_token t);

/* ---------- machine ---------- */
/* Instruction set the kernels dispatch to ("avx512", "avx2", "portable"). */
const char *kumo_isa(void);
/* Measured read bandwidth of main memory in GB/s (10^9 bytes/s): n_threads read a buffer of `bytes`
 * bytes (well above the caches) `reps` times; the best pass counts, as STREAM reports. */
double kumo_measure_read_bandwidth(int n_threads, size_t bytes, int reps);
/* The same read on a context's own threads, a slice at a time, so that it can be timed between the
 * context's decode steps (kumo bench --roofline): a buffer of `bytes` (well above the caches), every
 * page faulted in at creation. NULL when out of memory. Free it before the context. */
typedef struct kumo_read_probe kumo_read_probe;
kumo_read_probe *kumo_read_probe_new(kumo_context *ctx, size_t bytes);
/* Reads the next `bytes` bytes of the buffer (from where the last read stopped, going round at its
 * end) on the context's threads; returns the seconds it took. */
double kumo_read_probe_run(kumo_read_probe *p, size_t bytes);
void kumo_read_probe_free(kumo_read_probe *p);

/* ---------- model tools (kumo quantize, kumo synth) ---------- */
/* Progress of a tool: tensor i of n (0-based) named `tensor` is being converted from type `from` to
 * `to`. */
typedef void (*kumo_progress_fn)(void *ud, int i, int n, const char *tensor, const char *from, const char *to);

typedef struct kumo_tool_report {
    int n_tensors, n_converted, n_copied;
    uint64_t in_bytes, out_bytes;   /* tensor data */
} kumo_tool_report;

typedef struct kumo_quantize_params {
    const char *type;          /* F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K */
    int n_threads;             /* 0 = all cores */
    bool allow_requantize;     /* convert tensors that are already quantized (quality loss) */
    kumo_progress_fn progress;
    void *progress_ud;
} kumo_quantize_params;

/* Writes OUT (via a temporary file renamed on success) with every metadata key of IN, general.file_type
 * updated, and the weights converted per the type's mix. */
int kumo_quantize_file(const char *in, const char *out, const kumo_quantize_params *p, kumo_tool_report *report,
                       kumo_error *err);

typedef struct kumo_synth_params {
    const char *shape;         /* llama-1b, qwen3-0.6b, qwen3moe-mini, ... (kumo_synth_shapes()) */
    const char *type;          /* as kumo_quantize_params.type, or F32 */
    const char *vocab_path;    /* GGUF whose tokenizer.* keys are copied (padded to the shape's vocab) */
    uint64_t seed;
    int n_threads;
    kumo_progress_fn progress;
    void *progress_ud;
} kumo_synth_params;

/* Writes a random-weight model (weights ~ N(0, 1/fan_in), norms 1) with the exact tensor shapes of a
 * real model, for benchmarks. */
int kumo_synth_file(const char *out, const kumo_synth_params *p, kumo_tool_report *report, kumo_error *err);
const char *kumo_synth_shapes(void);  /* "llama-1b, qwen3-0.6b, ..." */

#ifdef __cplusplus
}
#endif
#endif
