/* Chat templates: the 10 reference renderings of ../shared/vocab/chat-templates.json through the
 * templates stored in the vocab GGUFs (HF style and llama.cpp's BOS-stripped style), the Jinja
 * language features one by one, error messages with positions, limits against hostile templates,
 * the built-in templates and the API.
 *
 * The expected outputs of the feature table and of the Qwen3 tool/thinking cases were produced by
 * Python jinja2 3.1.6 in Hugging Face transformers' chat-template environment
 * (ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols, HF's tojson,
 * raise_exception and strftime_now pinned to 2024-07-23 14:05:09). */
#include "testutil.h"

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "chat/chat_template.h"
#include "format/gguf.h"

#define FIXED_NOW ((time_t)1721743509) /* 2024-07-23 14:05:09 UTC; main() sets TZ=UTC */

static const char *const CONVERSATION =
    "[{\"role\": \"system\", \"content\": \"You are helpful.\"}, {\"role\": \"user\", \"content\": \"Hi there\"},"
    " {\"role\": \"assistant\", \"content\": \"Hello!\"}, {\"role\": \"user\", \"content\": \"Bye\"}]";

static void default_opts(chat_render_opts *o) {
    chat_render_opts_init(o);
    o->add_generation_prompt = true;
    o->bos_token = "<s>";
    o->eos_token = "</s>";
    o->now = FIXED_NOW;
}

/* Renders tmpl over messages (JSON text or NULL); returns the status, *out the text (or NULL). */
static int render(const char *tmpl, const char *messages_json, const chat_render_opts *opts, char **out, kumo_error *err) {
    cJSON *msgs = NULL;
    if (messages_json) {
        msgs = cJSON_Parse(messages_json);
        assert_non_null(msgs);
    }
    memset(err, 0, sizeof *err);
    int rc = chat_template_render(tmpl, msgs, opts, out, NULL, err);
    cJSON_Delete(msgs);
    return rc;
}

static char *render_ok(const char *tmpl, const char *messages_json, const chat_render_opts *opts) {
    char *out = NULL;
    kumo_error err;
    int rc = render(tmpl, messages_json, opts, &out, &err);
    if (rc != KUMO_OK) fail_msg("render failed (%d): %s\ntemplate: %s", rc, err.msg, tmpl);
    assert_non_null(out);
    return out;
}

static void expect_render(const char *tmpl, const char *messages_json, const chat_render_opts *opts, const char *want) {
    char *got = render_ok(tmpl, messages_json, opts);
    if (strcmp(got, want) != 0) fail_msg("template: %s\n got: [%s]\nwant: [%s]", tmpl, got, want);
    free(got);
}

/* Expects a failure whose message contains each of the NULL-terminated substrings. */
static int expect_error(const char *tmpl, const char *messages_json, const chat_render_opts *opts, const char *const *parts) {
    char *out = (char *)"sentinel";
    kumo_error err;
    int rc = render(tmpl, messages_json, opts, &out, &err);
    if (rc == KUMO_OK) fail_msg("expected an error, rendered [%s]\ntemplate: %s", out, tmpl);
    assert_null(out);
    assert_int_equal(err.code, rc);
    for (size_t i = 0; parts[i]; i++)
        if (!strstr(err.msg, parts[i])) fail_msg("error message [%s] lacks [%s]\ntemplate: %s", err.msg, parts[i], tmpl);
    return rc;
}

/* ---------- reference renderings from the vocab GGUFs ---------- */

/* Text of token `key` (an id key) from the vocab's token list; malloc'd. */
static char *token_text(const gguf_ctx *g, const char *key) {
    uint32_t id;
    kumo_error err;
    assert_true(gguf_get_u32(g, key, &id, &err));
    const gguf_value *toks = gguf_get_arr(g, "tokenizer.ggml.tokens");
    assert_non_null(toks);
    assert_int_equal(toks->v.arr.elem_type, GGUF_TYPE_STRING);
    assert_true(id < toks->v.arr.n);
    return strndup(toks->v.arr.strs[id].data, toks->v.arr.strs[id].len);
}

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static cJSON *load_reference(void) {
    size_t n;
    char *text = read_file(shared_path("vocab/chat-templates.json"), &n);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

static void test_reference_renderings(void **state) {
    (void)state;
    cJSON *root = load_reference();
    int checked = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, root) {
        const char *name = json_str(entry, "template");
        char rel[128];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
        kumo_error err = {0};
        gguf_ctx *g = gguf_open(shared_path(rel), &err);
        if (!g) fail_msg("%s: %s", rel, err.msg);
        gguf_str src;
        assert_true(gguf_get_str(g, "tokenizer.chat_template", &src, &err));
        char *bos = token_text(g, "tokenizer.ggml.bos_token_id"), *eos = token_text(g, "tokenizer.ggml.eos_token_id");
        bool add_bos = false;
        gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, NULL);
        assert_string_equal(bos, json_str(entry, "bos_token"));
        assert_int_equal(add_bos, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "add_bos_token")));

        chat_template *t = chat_template_parse(src.data, (size_t)src.len, &err);
        if (!t) fail_msg("%s: %s", entry->string, err.msg);
        chat_render_opts o;
        chat_render_opts_init(&o);
        o.add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "add_generation_prompt"));
        o.bos_token = bos;
        o.eos_token = eos;
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(entry, "messages");
        char *out;
        size_t len;
        assert_int_equal(chat_template_apply(t, msgs, &o, &out, &len, &err), KUMO_OK);
        assert_int_equal(len, strlen(out));
        if (strcmp(out, json_str(entry, "rendered_hf_style")))
            fail_msg("%s (HF style):\n got: [%s]\nwant: [%s]", entry->string, out, json_str(entry, "rendered_hf_style"));
        free(out);
        o.strip_bos = add_bos; /* what llama.cpp does */
        assert_int_equal(chat_template_apply(t, msgs, &o, &out, NULL, &err), KUMO_OK);
        if (strcmp(out, json_str(entry, "rendered")))
            fail_msg("%s (llama.cpp style):\n got: [%s]\nwant: [%s]", entry->string, out, json_str(entry, "rendered"));
        free(out);
        chat_template_free(t);
        free(bos);
        free(eos);
        gguf_close(g);
        checked++;
    }
    assert_int_equal(checked, 10);
    cJSON_Delete(root);
}

/* ---------- language features ---------- */
static const struct {
    const char *tmpl, *want;
} FEATURES[] = {
    {"a\n{% if true %}\nb\n{% endif %}\nc\n",
     "a\nb\nc"},
    {"a\n  {% if true %}\n  b\n  {% endif %}\nc",
     "a\n  b\nc"},
    {"a\n  {%+ if true %}\n  b\n  {% endif +%}\nc",
     "a\n    b\n\nc"},
    {"a  {%- if true -%}  \n b \n {%- endif -%}  c",
     "abc"},
    {"  {{ 'x' }}  \n  {{- 'y' -}}  \n z",
     "  xyz"},
    {"a\n   {# comment #}\nb\n  {#- c -#}  \n c",
     "a\nbc"},
    {"{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n",
     "  1\n  2\n"},
    {"{% for i in [1,2] -%}\n  {{ i }}\n{%- endfor %}\nend",
     "12end"},
    {"a\r\nb\r\n{% if 1 %}\r\nc\r\n{% endif %}\r\n",
     "a\nb\nc\n"},
    {"trailing\n\n",
     "trailing\n"},
    {"{% raw %}\n  {% if %}{{ x }}\n{% endraw %}\nafter",
     "\n  {% if %}{{ x }}\nafter"},
    {"{%- raw -%}  {% y %}  {%- endraw %}|",
     "{% y %}|"},
    {"{{ 'a' 'b' \"c\" }} {{ '\\'' }} {{ \"\\\"\" }} {{ '\\101\\x42\\u0043' }} {{ 'tab\\there' }}",
     "abc ' \" ABC tab\there"},
    {"{{ 0x1F }} {{ 1_000 }} {{ 0o17 }} {{ 0b101 }} {{ 1.5e3 }} {{ 1E2 }}",
     "31 1000 15 5 1500.0 100.0"},
    {"{{ [1, 'a', none, true, 1.5, {'k': (1, 2)}] }} {{ (1,) }} {{ () }} {{ {} }}",
     "[1, 'a', None, True, 1.5, {'k': (1, 2)}] (1,) () {}"},
    {"{{ {'a': 'it\\'s'} }} {{ [\"a'b\", 'a\"b', 'a\\nb'] }}",
     "{'a': \"it's\"} [\"a'b\", 'a\"b', 'a\\nb']"},
    {"{{ 1e16 }} {{ 1.5e-5 }} {{ 2.0 }} {{ 10/4 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 2**10 }}",
     "1e+16 1.5e-05 2.0 2.5 3 -4 2 1024"},
    {"{{ 1.0 }} {{ 100.0 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.0 }} {{ 1.5e-7 }} {{ 2.5e+20 }} {{ 0.1 + 0.2 }}",
     "1.0 100.0 1000000000000000.0 0.0001 1e-05 -0.0 1.5e-07 2.5e+20 0.30000000000000004"},
    {"{{ 10 - 3 * 2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ 7.5 // 2 }} {{ 10 % -3 }}",
     "-2 64 4 5 3.0 -2"},
    {"{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [0] * 3 }}|{{ 'x' * 0 }}|",
     "ababab ababab [0, 0, 0]||"},
    {"{{ 'x' ~ none ~ undefined_var ~ 1 ~ 2.5 ~ true }} {{ (1 ~ 2) + '3' }}",
     "xNone12.5True 123"},
    {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ (1, 2) == [1, 2] }}",
     "True False True True True True False"},
    {"{{ not 1 == 2 }} {{ 'a' not in 'abc' }} {{ 1 in [1, 2] and 3 not in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'a' in undefined_var }}",
     "True False True True False"},
    {"{{ true and false or true }} {{ false or 0 or '' or 'last' }} {{ 'x' and 'y' }} {{ none and 1 }} {{ none or none }}",
     "True last y None None"},
    {"{{ 'a' if 1 > 2 else 'b' if 2 > 3 else 'c' }}|{{ 1 if false }}|",
     "c||"},
    {"{{ messages | length }} {{ messages[0].role }} {{ messages[1]['content'] }} {{ messages[-1].content }} {{ messages.0.role }}",
     "4 system Hi there Bye system"},
    {"{{ add_generation_prompt }} {{ bos_token }} {{ eos_token }} {{ tools }} {{ tools is none }} {{ nope is defined }}",
     "True <s> </s> None True False"},
    {"{{ messages[0].nope is defined }} {{ messages[9] is defined }} {{ none.attr }}|{{ [1].attr }}|",
     "False False ||"},
    {"{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}",
     "1043TrueFalse4 2132FalseFalse4 3221FalseFalse4 4310FalseTrue4 "},
    {"{% for i in range(3) %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}",
     "-1|0-2|1-|"},
    {"{% for m in messages %}{{ loop.cycle('odd', 'even') }}{% endfor %}",
     "oddevenoddeven"},
    {"{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}",
     "1/2:2 2/2:4 "},
    {"{% for x in [] %}a{% else %}empty{% endfor %}{% for x in undefined_var %}a{% else %}undef{% endfor %}",
     "emptyundef"},
    {"{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}{{ ',' if not loop.last }}{% endfor %}",
     "a=1,b=2"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{% for (a, b) in [(1, 2)] %}{{ a }}{{ b }}{% endfor %}",
     "3,7,12"},
    {"{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}{% for c in 'ab' %}[{{ c }}]{% endfor %}",
     "xy[a][b]"},
    {"{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}",
     "02"},
    {"{% for i in range(3) %}{% for j in range(3) %}{% if j > i %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
     "00 10 11 20 21 22 "},
    {"{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ loop.first }}|{% endfor %}{% endfor %}",
     "1True|2False|1True|2False|"},
    {"{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %} {% for m in messages if m.role != 'system' %}{{ m.content | length }},{% endfor %}",
     "uaus 8,6,3,"},
    {"{% set v = 5 %}{% for i in [1, 2] %}{{ v }}{% set v = i %}{% endfor %}[{{ v }}]",
     "55[5]"},
    {"{% for i in [1, 2] %}{% if i == 2 %}{{ v }}{% endif %}{% set v = i %}{% endfor %}[{{ v }}]",
     "[]"},
    {"{% set a = 1 %}{% if true %}{% set a = 2 %}{% endif %}{{ a }}",
     "2"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ d }}{{ c }}{% set t = (1, 2) %}{{ t }}{{ t[0] }}",
     "12yx(1, 2)1"},
    {"{% set x %}cap{{ 1 }}{% endset %}[{{ x }}]{% set y | upper %}up{% endset %}{{ y }}",
     "[cap1]UP"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
     "3[]"},
    {"{% set ns = namespace(a=1) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}",
     "4"},
    {"{% set ns = namespace(items=[]) %}{% for i in range(3) %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.items }} {{ ns.missing }}|",
     "[0, 1, 2] |"},
    {"{% set ns = namespace() %}{% set ns.x = 5 %}{{ ns.x }} {{ namespace(a=1).a }} {{ dict(a=1, b=2) }}",
     "5 1 {'a': 1, 'b': 2}"},
    {"{% macro m(a, b=2) %}[{{ a }}-{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=3) }}{{ m() }}{{ m(b=4, a=5) }}",
     "[1-2][1-3][-2][5-4]"},
    {"{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3) }}",
     "1(2, 3){}"},
    {"{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
     "54321"},
    {"{% set x = 'a' %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 'b' %}{{ m() }}",
     "b"},
    {"{% macro outer() %}<{{ caller('z') }}>{% endmacro %}{% call(q) outer() %}in-{{ q }}{% endcall %}",
     "<in-z>"},
    {"{% macro m(x) %}[{{ x }}|{{ caller() if caller is defined else 'nocaller' }}]{% endmacro %}{{ m(1) }}{% call m(2) %}body{% endcall %}",
     "[1|nocaller][2|body]"},
    {"{% filter upper %}abc{% endfilter %}{% filter replace('a', 'b') | upper %}aaa{% endfilter %}",
     "ABCBBB"},
    {"{{ ' x '.strip() }}|{{ 'xyx'.strip('x') }}|{{ '\\n\\na\\n'.lstrip('\\n') }}|{{ 'a\\n\\n'.rstrip() }}|{{ 'a\\n\\n'.rstrip('\\n') }}",
     "x|y|a\n|a|a"},
    {"{{ 'a<think>b</think>c'.split('</think>')[-1] }} {{ 'a<think>b</think>c'.split('</think>')[0].split('<think>')[-1] }}",
     "c b"},
    {"{{ 'a b  c'.split(' ') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  a b c  '.rsplit(None, 1) }}",
     "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] ['a,b', 'c'] ['  a b', 'c']"},
    {"{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'abc'.startswith('b', 1) }}",
     "True True True True"},
    {"{{ 'h\303\251llo w\303\266rld'.find('w') }} {{ 'abcabc'.rfind('b') }} {{ 'abcabc'.count('bc') }} {{ 'abc'.find('z') }}",
     "6 4 2 -1"},
    {"{{ '-'.join(['a', 'b']) }} {{ ''.join('xyz') }} {{ 'abc'.replace('', '-') }} {{ 'aXbXc'.replace('X', '', 1) }}",
     "a-b xyz -a-b-c- abXc"},
    {"{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'ABC'.lower() }} {{ 'abc'.upper() }} {{ 'a1'.isalnum() }} {{ '12'.isdigit() }} {{ ' '.isspace() }}",
     "Hello World Hello abc ABC True True True"},
    {"{{ 'one\\ntwo\\r\\nthree'.splitlines() }} {{ 'Hello {}! {name}'.format('W', name='N') }}",
     "['one', 'two', 'three'] Hello W! N"},
    {"{{ 'h\303\251llo'|length }} {{ 'h\303\251llo'[::-1] }} {{ 'h\303\251llo'[1:3] }} {{ 'abc'[1] }} {{ 'abc'[-1] }} {{ '\360\237\230\200a'[1] }}",
     "5 oll\303\251h \303\251l b c a"},
    {"{{ [1, 2, 3][1:] }} {{ [1, 2, 3][::-1] }} {{ [1, 2, 3][-2:] }} {{ 'hello'[1:-1] }} {{ 'hello'[::2] }} {{ [1, 2, 3, 4, 5][4:0:-2] }} {{ [1, 2][5:] }} {{ 'abc'[-10:10] }}",
     "[2, 3] [3, 2, 1] [2, 3] ell hlo [5, 3] [] abc"},
    {"{{ [1, 2, 3][-1] }} {{ [1, 2, 3][5] }}|{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 0) }} {{ {'a': 1}.get('z') }} {{ {1: 'x'}[1] }}",
     "3 |1 0 None x"},
    {"{{ {'a': 1}.items() | list }} {{ {'a': 1}.keys() | list }} {{ {'a': 1}.values() | list }} {{ [1, 2].index(2) }} {{ [1, 1].count(1) }}",
     "[('a', 1)] ['a'] [1] 1 2"},
    {"{{ '%5s|%-5s|%.2f|%05d|%x|%r' % ('ab', 'cd', 3.14159, 42, 255, 'q') }} {{ '%d%%' % 50 }} {{ 'x%sy' | format(5) }}",
     "   ab|cd   |3.14|00042|ff|'q' 50% x5y"},
    {"{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'hello world-foo'|title }} {{ 'hELLo'|capitalize }} {{ 'Ab'|upper }}{{ 'Ab'|lower }}",
     "a b|a|Hello World-Foo Hello ABab"},
    {"{{ {'b': '\303\251\\n\"', 'a': [1, 2.5, none, true]} | tojson }}",
     "{\"b\": \"\303\251\\n\\\"\", \"a\": [1, 2.5, null, true]}"},
    {"{{ {'b': 1, 'a': [1, 2]} | tojson(indent=2) }} {{ [] | tojson(indent=2) }} {{ {} | tojson }}",
     "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n} [] {}"},
    {"{{ {'z': 1, 'a': 2} | tojson(sort_keys=true) }} {{ {'a': [1, {'b': none}]} | tojson(separators=(',', ':')) }}",
     "{\"a\": 2, \"z\": 1} {\"a\":[1,{\"b\":null}]}"},
    {"{{ '\303\251' | tojson }} {{ '\303\251\360\237\230\200' | tojson(ensure_ascii=true) }} {{ '\\x00\\x1f\\t' | tojson }} {{ '\"\\\\/' | tojson }} {{ 3.0 | tojson }} {{ 1e20 | tojson }}",
     "\"\303\251\" \"\\u00e9\\ud83d\\ude00\" \"\\u0000\\u001f\\t\" \"\\\"\\\\/\" 3.0 1e+20"},
    {"{{ messages[:2] | tojson }}",
     "[{\"role\": \"system\", \"content\": \"You are helpful.\"}, {\"role\": \"user\", \"content\": \"Hi there\"}]"},
    {"{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('>>') }}",
     "a\n  b\n\n  c|  a\n  b|a\n  \n  b|x\n>>y"},
    {"{{ range(3)|list }} {{ range(1, 10, 3)|join(',') }} {{ range(10, 0, -3) | list }}",
     "[0, 1, 2] 1,4,7 [10, 7, 4, 1]"},
    {"{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a']|sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ [{'n': 2}, {'n': 1}] | sort(attribute='n') }} {{ ['b', 'a', 'C'] | sort(case_sensitive=true) }}",
     "[1, 2, 3] ['A', 'a', 'b'] [3, 2, 1] [{'n': 1}, {'n': 2}] ['C', 'a', 'b']"},
    {"{{ [1, 2, 3]|sum }} {{ [1.5, 2] | sum }} {{ [{'v': 1}, {'v': 2}] | sum(attribute='v') }} {{ [1] | sum(start=10) }}",
     "6 3.5 3 11"},
    {"{{ [1, 2]|first }} {{ 'abc'|last }} {{ [] | first }}|{{ x | default('d') }} {{ '' | default('d', true) }} {{ none | default('n') }}",
     "1 c |d d None"},
    {"{{ [{'a': 1}, {'a': 2}, {'b': 3}] | selectattr('a') | list }} {{ [{'a': 1}, {'a': 2}] | map(attribute='a') | join }} {{ ['a', 'b'] | map('upper') | list }}",
     "[{'a': 1}, {'a': 2}] 12 ['A', 'B']"},
    {"{{ [{'a': 1}, {'a': 2}] | selectattr('a', 'equalto', 2) | list }} {{ [1, 2, 3] | reject('odd') | list }} {{ [1, 2, 3] | select('gt', 1) | list }}",
     "[{'a': 2}] [2] [2, 3]"},
    {"{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | list }}",
     "2 ['system', 'assistant']"},
    {"{{ [{'a': {'b': 5}}] | map(attribute='a.b') | list }} {{ [[1, 2]] | map(attribute='1') | list }} {{ [{}] | map(attribute='x', default='d') | list }}",
     "[5] [2] ['d']"},
    {"{{ [1, 2] | map('string') | join('+') }} {{ [[1, 2], [3]] | map('length') | list }} {{ [[1, 2], [3]] | map('join', '-') | list }}",
     "1+2 [2, 1] ['1-2', '3']"},
    {"{{ 3.0|int }} {{ '42'|int }} {{ 'x'|int }} {{ '3.7'|int }} {{ '1.5'|float }} {{ 5|string }} {{ '0x1A' | int(base=16) }} {{ 'abc' | int(5) }} {{ true | int }}",
     "3 42 0 3 1.5 5 26 5 1"},
    {"{{ -3|abs }} {{ 2.567|round(1) }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.1 | round(0, 'ceil') }} {{ 3.9 | round(method='floor') }} {{ 5 | round }}",
     "3 2.6 2.0 4.0 4.0 3.0 5"},
    {"{{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ [1, 2, 2, 3]|unique|list }} {{ ['a', 'A'] | unique | list }} {{ [3, 1]|max }} {{ [3, 1]|min }}",
     "[3, 2, 1] cba [1, 2, 3] ['a'] 3 1"},
    {"{{ {'a': 1, 'b': 2}|dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }} {{ {'a': 1} | items | list }}",
     "[('a', 1), ('b', 2)] [('b', 1), ('a', 2)] [('a', 1)]"},
    {"{{ 'a b c'|wordcount }} {{ 'abc'|center(7) }}|{{ 'a & b < c' | e }} {{ 'x' | safe }} {{ 'abc' | list }} {{ {'a': 1} | list }}",
     "3   abc  |a &amp; b &lt; c x ['a', 'b', 'c'] ['a']"},
    {"{{ 'a,b' | replace(',', ';') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ [] | join(', ') }}|{{ [none, 1] | join }}|{{ [{'n': 'a'}, {'n': 'b'}] | join(',', attribute='n') }}",
     "a;b bba |None1|a,b"},
    {"{{ 'hello' | truncate(3) }} {{ 'hello world foo bar baz' | truncate(10) }} {{ 'hello world foo bar' | truncate(10, true) }} {{ 'abcdefghijklmnop' | truncate(10, leeway=0) }}",
     "hello hello... hello w... abcdefg..."},
    {"{{ [1, 2, 3] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 0) | list }}",
     "[[1, 2], [3]] [[1, 2], [3, 0]]"},
    {"{{ x | length }} {{ messages | first | attr('role') }}",
     "0 "},
    {"{{ x is defined }} {{ none is none }} {{ 1 is integer }} {{ true is integer }} {{ true is number }} {{ x is iterable }} {{ {} is mapping }} {{ 'a' is sequence }}",
     "False True True False True True True True"},
    {"{{ 'x' is string and 'x' is not mapping }} {{ [] is sequence }} {{ 1.5 is float }} {{ true is boolean }} {{ false is false }} {{ 1 is true }} {{ x is undefined }}",
     "True True True True True False True"},
    {"{{ 4 is even }} {{ 4 is odd }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 5 is gt 3 }} {{ 5 is lt(3) }} {{ 2 is in [1, 2] }} {{ 'a' is eq 'a' }} {{ 3 is ne 3 }} {{ 3 is ge 3 }} {{ 3 is le 2 }} {{ 9 is divisibleby 3 }} {{ 1 is sameas 1 }}",
     "True False True True True False True True False True False True True"},
    {"{{ raise_exception is callable }} {{ range is defined }}",
     "True True"},
    {"{{ strftime_now('%Y-%m-%d %H:%M:%S|%d %b %Y|%-d %B') }}",
     "2024-07-23 14:05:09|23 Jul 2024|23 July"},
};

static void test_language_features(void **state) {
    (void)state;
    chat_render_opts o;
    default_opts(&o);
    for (size_t i = 0; i < sizeof FEATURES / sizeof FEATURES[0]; i++) expect_render(FEATURES[i].tmpl, CONVERSATION, &o, FEATURES[i].want);
}

static void test_qwen3_extras(void **state) {
    (void)state;
    kumo_error err;
    gguf_ctx *g = gguf_open(shared_path("vocab/ggml-vocab-qwen3.gguf"), &err);
    assert_non_null(g);
    gguf_str s;
    assert_true(gguf_get_str(g, "tokenizer.chat_template", &s, &err));
    char *src = strndup(s.data, s.len);
    gguf_close(g);
    chat_render_opts o;
    chat_render_opts_init(&o);
    o.add_generation_prompt = true;
    const char *ask = "[{\"role\": \"user\", \"content\": \"Weather in Paris?\"}]";

    /* enable_thinking=false, an extra variable */
    cJSON *extra = cJSON_Parse("{\"enable_thinking\": false}");
    o.extra = extra;
    expect_render(src, ask, &o,
                  "<|im_start|>user\nWeather in Paris\?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    o.extra = NULL;
    cJSON_Delete(extra);

    /* tools: the system block lists each tool through tojson */
    cJSON *tools = cJSON_Parse("[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\","
                               " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]");
    o.tools = tools;
    expect_render(src, ask, &o,
                  "<|im_start|>system\n"
                  "# Tools\n"
                  "\n"
                  "You may call one or more functions to assist with the user query.\n"
                  "\n"
                  "You are provided with function signatures within <tools></tools> XML tags:\n"
                  "<tools>\n"
                  "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
                  "</tools>\n"
                  "\n"
                  "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
                  "<tool_call>\n"
                  "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
                  "</tool_call><|im_end|>\n"
                  "<|im_start|>user\n"
                  "Weather in Paris\?<|im_end|>\n"
                  "<|im_start|>assistant\n");
    o.tools = NULL;
    cJSON_Delete(tools);

    /* reasoning_content and tool_calls of an assistant turn, then a tool response */
    expect_render(src,
                  "[{\"role\": \"user\", \"content\": \"Weather in Paris\?\"}, {\"role\": \"assistant\", \"content\": \"\", \"reasoning_content\": \"Need the tool.\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]}, {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21}\"}]",
                  &o,
                  "<|im_start|>user\n"
                  "Weather in Paris\?<|im_end|>\n"
                  "<|im_start|>assistant\n"
                  "<think>\n"
                  "Need the tool.\n"
                  "</think>\n"
                  "\n"
                  "<tool_call>\n"
                  "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                  "</tool_call><|im_end|>\n"
                  "<|im_start|>user\n"
                  "<tool_response>\n"
                  "{\"temp\": 21}\n"
                  "</tool_response><|im_end|>\n"
                  "<|im_start|>assistant\n");
    free(src);
}

/* ---------- errors ---------- */
static const struct {
    const char *tmpl;
    const char *parts[3];
} ERRORS[] = {
    {"{% for x in y %}", {"1:4:", "'for' block is never closed", "endfor"}},
    {"line1\nline2 {% if x %}\n{% for y in z %}\n{% endif %}", {"4:4:", "unexpected 'endif'", "'for' from 3:4"}},
    {"{% endif %}", {"1:4:", "unexpected 'endif'", NULL}},
    {"{% if %}{% endif %}", {"1:7:", "expected an expression", NULL}},
    {"{{ 1 +  }}", {"1:9:", "expected an expression, got '}}'", NULL}},
    {"{% foo %}", {"1:4:", "unknown tag 'foo'", NULL}},
    {"{% extends 'base' %}", {"1:4:", "'extends' is not supported", NULL}},
    {"{% include 'x' %}", {"'include' is not supported", NULL, NULL}},
    {"{{ 'abc }}", {"1:4:", "unterminated string literal", NULL}},
    {"{# unclosed", {"1:1:", "missing end of comment tag", NULL}},
    {"{% raw %}never ends", {"missing end of raw directive", NULL, NULL}},
    {"{{ (1, 2 }}", {"1:10:", "unexpected '}', expected ')'", NULL}},
    {"{{ a ! b }}", {"1:6:", "unexpected character '!'", NULL}},
    {"{{ x", {"1:1:", "not closed", NULL}},
    {"{% break %}", {"'break' outside of a for loop", NULL, NULL}},
    {"{% macro m(a=1, b) %}{% endmacro %}", {"parameter without default", NULL, NULL}},
    {"{{ f(a=1, 2) }}", {"positional argument follows keyword argument", NULL, NULL}},
    {"{{ '\\xZZ' }}", {"truncated \\x escape", NULL, NULL}},
    {"{% for x in y recursive %}{% endfor %}", {"recursive for loops are not supported", NULL, NULL}},
    {"{{ 99999999999999999999 }}", {"integer literal too large", NULL, NULL}},
    {"\n\n  {{ x | nofilter }}", {"3:10:", "unknown filter 'nofilter'", NULL}},
    {"{{ 1 is notatest }}", {"unknown test 'notatest'", NULL, NULL}},
    {"{{ x.y }}", {"'x' is undefined", NULL, NULL}},
    {"{{ x + 1 }}", {"'x' is undefined", NULL, NULL}},
    {"{{ 1 + 'a' }}", {"1:6:", "unsupported operand type(s) for +: 'int' and 'str'", NULL}},
    {"{{ 'a' + 1 }}", {"can only concatenate str (not \"int\") to str", NULL, NULL}},
    {"{{ 1 / 0 }}", {"division by zero", NULL, NULL}},
    {"{{ 1 < 'a' }}", {"'<' not supported between instances of 'int' and 'str'", NULL, NULL}},
    {"{{ 'a' in none }}", {"argument of type 'NoneType' is not iterable", NULL, NULL}},
    {"{% for x in none %}{% endfor %}", {"'NoneType' object is not iterable", NULL, NULL}},
    {"{{ 5 | length }}", {"object of type 'int' has no len()", NULL, NULL}},
    {"{% for a, b in [[1, 2, 3]] %}{% endfor %}", {"too many values to unpack (expected 2, got 3)", NULL, NULL}},
    {"{% set d = {} %}{% set d.x = 5 %}", {"cannot assign attribute on non-namespace object 'd'", NULL, NULL}},
    {"{{ [1].append(2) }}", {"list.append()", "not allowed", NULL}},
    {"{{ 'a'.nomethod() }}", {"'nomethod' is undefined", NULL, NULL}},
    {"{{ 5() }}", {"'int' object is not callable", NULL, NULL}},
    {"{{ 'x' | tojson(indent='a') }}", {"tojson indent expects an integer", NULL, NULL}},
    {"{{ x | tojson }}", {"Object of type Undefined is not JSON serializable", NULL, NULL}},
    {"{{ range(1, 2, 0) }}", {"must not be zero", NULL, NULL}},
    {"{{ strftime_now('%Q') }}", {"unsupported strftime directive", NULL, NULL}},
    {"{{ 'a{}'.format() }}", {"replacement index 0 out of range", NULL, NULL}},
    {"{{ '%s %s' % ('a',) }}", {"not enough arguments for format string", NULL, NULL}},
    {"{{ [1, 2][::0] }}", {"slice step cannot be zero", NULL, NULL}},
    {"{{ {[1]: 2} }}", {"unhashable type: 'list'", NULL, NULL}},
    {"{{ 9223372036854775807 + 1 }}", {"integer overflow", NULL, NULL}},
    /* printf directives are bounded so one cannot take seconds (differs from Python, on purpose) */
    {"{{ '%0999999999d' % 1 }}", {"format width or precision too large", NULL, NULL}},
    {"{{ '%.99999f' % 1.5 }}", {"format width or precision too large", NULL, NULL}},
    {"{{ '%\x00d' % 1 }}", {"unsupported format character", NULL, NULL}},
};

static void test_errors(void **state) {
    (void)state;
    chat_render_opts o;
    default_opts(&o);
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        const char *parts[5] = {"chat template: ", ERRORS[i].parts[0], ERRORS[i].parts[1], ERRORS[i].parts[2], NULL};
        if (!parts[2]) parts[2] = NULL;
        const char *list[5];
        size_t k = 0;
        for (size_t j = 0; j < 4; j++)
            if (parts[j]) list[k++] = parts[j];
        list[k] = NULL;
        expect_error(ERRORS[i].tmpl, CONVERSATION, &o, list);
    }
}

static void test_raise_exception(void **state) {
    (void)state;
    chat_render_opts o;
    default_opts(&o);
    const char *tmpl = "{% for m in messages %}\n"
                       "{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}\n"
                       "{% endfor %}";
    const char *parts[] = {"chat template: 2:", "raise_exception: Only user and assistant roles are supported!", NULL};
    int rc = expect_error(tmpl, CONVERSATION, &o, parts);
    assert_int_equal(rc, KUMO_E_INVALID);
    /* not raised when the condition does not hold */
    expect_render(tmpl, "[{\"role\": \"user\", \"content\": \"x\"}]", &o, "");
}

/* ---------- limits against hostile templates ---------- */
static void test_hostile_limits(void **state) {
    (void)state;
    chat_render_opts o;
    default_opts(&o);
    o.limits.max_steps = 2000000;
    o.limits.max_memory = 32u << 20;
    o.limits.max_output = 1u << 20;

    const char *recursion[] = {"nested deeper than", NULL};
    expect_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL, &o, recursion);
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, &o, recursion);

    const char *steps[] = {"step limit", NULL};
    expect_error("{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", NULL, &o, steps);
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j %}{% endfor %}{% endfor %}", NULL, &o, steps);

    const char *memory[] = {"memory limit", NULL};
    assert_int_equal(expect_error("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                                  NULL, &o, memory),
                     KUMO_E_NOMEM);
    const char *too_large[] = {"too large", NULL};
    expect_error("{{ 'x' * 10000000000 }}", NULL, &o, too_large);
    expect_error("{{ [1, 2] * 10000000000 }}", NULL, &o, too_large);

    const char *output[] = {"output limit", NULL};
    expect_error("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", NULL, &o, output);
    expect_error("{% macro m() %}{% for i in range(100000) %}0123456789abcdefghij{% endfor %}{% endmacro %}{{ m() }}", NULL, &o, output);

    const char *range[] = {"range too big", NULL};
    expect_error("{% for i in range(1000000000) %}{% endfor %}", NULL, &o, range);

    const char *cyclic[] = {"nested deeper than 200 levels", NULL};
    expect_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", NULL, &o, cyclic);
    expect_error("{% set ns = namespace() %}{% set ns.l = [ns] %}{{ ns.l }}", NULL, &o, cyclic);

    /* parser nesting */
    char deep[4096];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 1000; i++) n += (size_t)snprintf(deep + n, sizeof deep - n, "(");
    snprintf(deep + n, sizeof deep - n, "1");
    const char *brackets[] = {"nested too deeply", NULL};
    expect_error(deep, NULL, &o, brackets);
    n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 600; i++) n += (size_t)snprintf(deep + n, sizeof deep - n, "not ");
    snprintf(deep + n, sizeof deep - n, "1 }}");
    expect_error(deep, NULL, &o, brackets);
    n = 0;
    for (int i = 0; i < 300; i++) n += (size_t)snprintf(deep + n, sizeof deep - n, "{%% if 1 %%}");
    expect_error(deep, NULL, &o, brackets);

    /* the limits are per rendering: a normal template still renders with the same options */
    expect_render("{% for m in messages %}{{ m.role }};{% endfor %}", CONVERSATION, &o, "system;user;assistant;user;");
}

/* ---------- built-in templates ---------- */
static char *builtin_render(const char *name, const cJSON *msgs, const chat_render_opts *o) {
    const char *src = chat_template_builtin(name);
    assert_non_null(src);
    char *out;
    kumo_error err;
    if (chat_template_render(src, msgs, o, &out, NULL, &err) != KUMO_OK) fail_msg("builtin %s: %s", name, err.msg);
    return out;
}

/* The built-ins reproduce the model templates on plain conversations: chatml = Qwen3 without
 * thinking, llama3 = Llama 3, deepseek3 = DeepSeek-V3. */
static void test_builtins_match_references(void **state) {
    (void)state;
    cJSON *root = load_reference();
    int checked = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, root) {
        const char *tmpl = json_str(entry, "template"), *conv = json_str(entry, "conversation");
        const char *builtin = !strcmp(tmpl, "qwen3") ? "chatml" : !strcmp(tmpl, "llama3") ? "llama3" : "deepseek3";
        if (!strcmp(conv, "thinking")) continue; /* Qwen3 drops earlier reasoning; ChatML keeps text verbatim */
        chat_render_opts o;
        chat_render_opts_init(&o);
        o.add_generation_prompt = true;
        o.bos_token = json_str(entry, "bos_token");
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(entry, "messages");
        char *out = builtin_render(builtin, msgs, &o);
        const char *want = json_str(entry, !strcmp(builtin, "chatml") ? "rendered" : "rendered_hf_style");
        if (strcmp(out, want)) fail_msg("builtin %s on %s:\n got: [%s]\nwant: [%s]", builtin, entry->string, out, want);
        free(out);
        checked++;
    }
    assert_int_equal(checked, 9);
    cJSON_Delete(root);
}

static void test_builtin_templates(void **state) {
    (void)state;
    const char *const *names = chat_template_builtin_names();
    size_t count = 0;
    while (names[count]) count++;
    assert_int_equal(count, 4);
    assert_null(chat_template_builtin("nope"));
    assert_null(chat_template_builtin(NULL));

    cJSON *msgs = cJSON_Parse(CONVERSATION);
    chat_render_opts o;
    default_opts(&o);
    char *out = builtin_render("mistral", msgs, &o);
    assert_string_equal(out, "<s>[INST] You are helpful.\n\nHi there [/INST]Hello!</s>[INST] Bye [/INST]");
    free(out);
    out = builtin_render("chatml", msgs, &o);
    assert_string_equal(out, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
                             "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    out = builtin_render("llama3", msgs, &o);
    assert_string_equal(out, "<s><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out);
    out = builtin_render("deepseek3", msgs, &o);
    assert_string_equal(out, "<s>You are helpful.<\xef\xbd\x9cUser\xef\xbd\x9c>Hi there<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>Hello!"
                             "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c><\xef\xbd\x9cUser\xef\xbd\x9c>Bye"
                             "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
    free(out);
    o.add_generation_prompt = false;
    out = builtin_render("chatml", msgs, &o);
    assert_non_null(strstr(out, "Bye<|im_end|>\n"));
    assert_null(strstr(out, "<|im_start|>assistant\n<"));
    assert_int_equal(strlen(out) - (size_t)(strstr(out, "Bye<|im_end|>\n") - out), strlen("Bye<|im_end|>\n"));
    free(out);
    cJSON_Delete(msgs);

    /* Mistral insists on alternating roles */
    msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]");
    kumo_error err;
    char *bad = NULL;
    assert_int_not_equal(chat_template_render(chat_template_builtin("mistral"), msgs, &o, &bad, NULL, &err), KUMO_OK);
    assert_null(bad);
    assert_non_null(strstr(err.msg, "Conversation roles must alternate"));
    cJSON_Delete(msgs);

    /* content given as a list of parts: text parts are kept, others skipped */
    msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"look \"}, {\"type\": \"image\"},"
                       " {\"type\": \"text\", \"text\": \"here\"}]}]");
    o.add_generation_prompt = true;
    out = builtin_render("chatml", msgs, &o);
    assert_string_equal(out, "<|im_start|>user\nlook here<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    cJSON_Delete(msgs);
}

/* ---------- API ---------- */
static void test_api(void **state) {
    (void)state;
    kumo_error err;
    char *out;
    size_t len;
    const char *src = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                      "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}";
    chat_template *t = chat_template_parse(src, strlen(src), &err);
    assert_non_null(t);
    kumo_chat_message plain[] = {{"user", "one"}, {"assistant", "two"}};
    cJSON *msgs = chat_messages_to_json(plain, 2);
    assert_non_null(msgs);

    /* NULL options: no generation prompt, empty BOS/EOS */
    assert_int_equal(chat_template_apply(t, msgs, NULL, &out, &len, &err), KUMO_OK);
    assert_string_equal(out, "[user:one][assistant:two]");
    assert_int_equal(len, strlen(out));
    free(out);

    chat_render_opts o;
    default_opts(&o);
    for (int i = 0; i < 2; i++) { /* a parsed template renders any number of times */
        assert_int_equal(chat_template_apply(t, msgs, &o, &out, NULL, &err), KUMO_OK);
        assert_string_equal(out, "<s>[user:one][assistant:two]></s>");
        free(out);
    }
    o.strip_bos = true;
    o.strip_eos = true;
    assert_int_equal(chat_template_apply(t, msgs, &o, &out, NULL, &err), KUMO_OK);
    assert_string_equal(out, "[user:one][assistant:two]>");
    free(out);
    /* stripping only removes the token text when it is really there */
    o.bos_token = "<bos>";
    assert_int_equal(chat_template_apply(t, NULL, &o, &out, NULL, &err), KUMO_OK);
    assert_string_equal(out, ">");
    free(out);
    o.bos_token = "[";
    o.eos_token = NULL;
    assert_int_equal(chat_template_apply(t, msgs, &o, &out, NULL, &err), KUMO_OK);
    assert_string_equal(out, "[user:one][assistant:two]>");
    free(out);

    /* messages must be an array, extra must be an object */
    cJSON *obj = cJSON_CreateObject();
    out = (char *)"sentinel";
    assert_int_equal(chat_template_apply(t, obj, &o, &out, NULL, &err), KUMO_E_INVALID);
    assert_null(out);
    o.extra = msgs;
    assert_int_equal(chat_template_apply(t, msgs, &o, &out, NULL, &err), KUMO_E_INVALID);
    o.extra = obj;
    cJSON_AddStringToObject(obj, "greeting", "hello");
    cJSON_AddNumberToObject(obj, "n", 3);
    cJSON_AddNumberToObject(obj, "x", 1.5);
    cJSON_AddItemToObject(obj, "eos_token", cJSON_CreateString("<override>"));
    const char *vars = "{{ greeting }} {{ n + 1 }} {{ x * 2 }} {{ eos_token }}";
    chat_template *t2 = chat_template_parse(vars, strlen(vars), &err);
    assert_non_null(t2);
    assert_int_equal(chat_template_apply(t2, msgs, &o, &out, NULL, &err), KUMO_OK);
    assert_string_equal(out, "hello 4 3.0 <override>");
    free(out);
    chat_template_free(t2);
    cJSON_Delete(obj);

    /* output may contain NUL bytes: out_len tells the real length */
    assert_int_equal(chat_template_render("{{ 'a\\x00b' }}", NULL, NULL, &out, &len, &err), KUMO_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "a\0b", 4);
    free(out);

    /* parse errors are reported by parse, render errors by apply */
    assert_null(chat_template_parse("{% if %}", 8, &err));
    assert_int_equal(err.code, KUMO_E_FORMAT);
    assert_non_null(strstr(err.msg, "chat template: 1:7:"));
    assert_null(chat_template_parse(NULL, 0, &err));
    /* a template need not be NUL-terminated */
    t2 = chat_template_parse("{{ 'ok' }}garbage", 10, &err);
    assert_non_null(t2);
    assert_int_equal(chat_template_apply(t2, NULL, NULL, &out, NULL, &err), KUMO_OK);
    assert_string_equal(out, "ok");
    free(out);
    chat_template_free(t2);
    chat_template_free(NULL);

    o.extra = NULL;
    /* strftime_now uses the given clock */
    expect_render("{{ strftime_now('%d %b %Y') }}", NULL, &o, "23 Jul 2024");

    /* an embedded NUL ends no number: '1\0' is not a float */
    expect_render("{{ '1\\x002' | float }} {{ '1\\x00' | int(7) }}", NULL, &o, "0.0 7");

    cJSON_Delete(msgs);
    chat_template_free(t);
}

/* A long conversation renders in linear time: string building is in place (jh_concat). */
static void test_long_conversation(void **state) {
    (void)state;
    cJSON *msgs = cJSON_CreateArray();
    char *content = malloc(4001);
    memset(content, 'w', 4000);
    content[4000] = 0;
    for (int i = 0; i < 2000; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", i % 2 ? "assistant" : "user");
        cJSON_AddStringToObject(m, "content", content);
        cJSON_AddItemToArray(msgs, m);
    }
    chat_render_opts o;
    default_opts(&o);
    /* a template that accumulates the whole conversation in a namespace string */
    const char *acc = "{% set ns = namespace(s='') %}{% for m in messages %}{% set ns.s = ns.s + m.role + ':' + m.content + '\\n' %}"
                      "{% endfor %}{{ ns.s | length }}";
    char *out;
    kumo_error err;
    o.limits.max_memory = 64u << 20; /* 8 MB of text: quadratic copying would need gigabytes */
    clock_t t0 = clock();
    assert_int_equal(chat_template_render(acc, msgs, &o, &out, NULL, &err), KUMO_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    char want[32];
    snprintf(want, sizeof want, "%d", 1000 * (5 + 4001) + 1000 * (10 + 4001));
    assert_string_equal(out, want);
    free(out);
    assert_true(secs < 5.0);
    out = builtin_render("chatml", msgs, &o);
    assert_int_equal(strlen(out), 1000 * (strlen("<|im_start|>user\n<|im_end|>\n") + 4000) +
                                      1000 * (strlen("<|im_start|>assistant\n<|im_end|>\n") + 4000) + strlen("<|im_start|>assistant\n"));
    free(out);
    free(content);
    cJSON_Delete(msgs);
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_renderings),
        cmocka_unit_test(test_language_features),
        cmocka_unit_test(test_qwen3_extras),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_raise_exception),
        cmocka_unit_test(test_hostile_limits),
        cmocka_unit_test(test_builtins_match_references),
        cmocka_unit_test(test_builtin_templates),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_long_conversation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
