/* The JSON text writer: what it writes is what json_dumps(JSON_COMPACT)
 * prints for the same value, byte for byte; a failed unit of writing leaves
 * the text as it was. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "../../leak_check.h"

TestSuite(json_writer, .fini = unit_leak_check);

/* jansson's text of a string, the reference. */
static char *jansson_string(const char *s)
{
    json_t *j = json_string(s);
    cr_assert_not_null(j, "jansson refused %s", s);
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    cr_assert_not_null(text);
    return text;
}

static void assert_string_as_jansson(const char *s)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_string(&w, s);
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    char *expected = jansson_string(s);
    cr_assert_str_eq(w.buf, expected);
    cr_assert_eq(w.len, strlen(expected));
    free(expected);
    json_writer_free(&w);
}

Test(json_writer, strings_are_escaped_exactly_as_jansson_escapes_them)
{
    static const char *const cases[] = {
        "",
        "plain ascii 0123456789 ~!@#$%^&*()_+{}|:<>?`-=[];',./",
        "\"quoted\"",
        "back\\slash\\\\",
        "\b\f\n\r\t",
        ("\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
         "\x1b\x1c\x1d\x1e\x1f"),
        "\x7f del stays",
        "/ slash stays, </script> too",
        "caf\xc3\xa9 \xc3\xa0 Dakar",
        "line\xe2\x80\xa8separator\xe2\x80\xa9paragraph",
        "\xe6\xbc\xa2\xe5\xad\x97",
        "\xf0\x9f\x8e\x89 emoji, \xf4\x8f\xbf\xbf last code point",
        "\xef\xbb\xbf BOM",
        "\\u0000 is text here",
        "mixed \"\\\n\x01\xc3\xa9\xe2\x80\xa8\xf0\x9f\x8e\x89 end",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_as_jansson(cases[i]);
}

Test(json_writer, every_single_byte_and_code_point_class_matches_jansson)
{
    char s[2] = {0, 0};
    for (int c = 1; c < 0x80; c++) {
        s[0] = (char)c;
        assert_string_as_jansson(s);
    }
    /* The first and last code point of each UTF-8 length. */
    static const char *const edges[] = {"\xc2\x80",         "\xdf\xbf",        "\xe0\xa0\x80",
                                        "\xed\x9f\xbf",     "\xee\x80\x80",    "\xef\xbf\xbf",
                                        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        assert_string_as_jansson(edges[i]);
}

Test(json_writer, a_long_string_is_written_whole)
{
    size_t n = 100000;
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = "ab\"\\\n\x01"[i % 6];
    s[n] = '\0';
    assert_string_as_jansson(s);
    free(s);
}

Test(json_writer, text_that_is_not_utf8_fails_as_jansson_refuses_it)
{
    static const char *const bad[] = {
        "\x80",             /* a continuation byte alone */
        "\xc3",             /* cut at the end */
        "a\xc3(",           /* cut inside */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xf0\x80\x80\xaf", /* overlong, four bytes */
        "\xed\xa0\x80",     /* a surrogate */
        "\xed\xbf\xbf",     /* a surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xf5\x80\x80\x80", /* no such lead byte */
        "\xff",
        "\xe2\x82",     /* cut three-byte sequence */
        "\xf0\x9f\x8e", /* cut four-byte sequence */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(json_string(bad[i]), "jansson took case %zu", i);
        struct json_writer w = JSON_WRITER_INIT;
        json_writer_literal(&w, "[1,");
        size_t mark = json_writer_begin(&w);
        json_writer_string(&w, bad[i]);
        json_writer_literal(&w, "]");
        cr_assert_eq(json_writer_end(&w, mark), C_ERR, "case %zu", i);
        cr_assert_str_eq(w.buf, "[1,", "case %zu", i);
        cr_assert_eq(w.len, 3);
        cr_assert_not(w.failed);
        /* Usable again. */
        mark = json_writer_begin(&w);
        json_writer_literal(&w, "2]");
        cr_assert_eq(json_writer_end(&w, mark), C_OK);
        cr_assert_str_eq(w.buf, "[1,2]");
        json_writer_free(&w);
    }
}

Test(json_writer, null_string_is_null)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_string(&w, NULL);
    cr_assert_str_eq(w.buf, "null");
    json_writer_free(&w);
}

Test(json_writer, integers_are_printed_as_jansson_prints_them)
{
    static const int64_t cases[] = {0,         1,         -1,         9,
                                    10,        -10,       1234567890, INT32_MAX,
                                    INT32_MIN, INT64_MAX, INT64_MIN,  1000000000000LL};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_writer w = JSON_WRITER_INIT;
        json_writer_int(&w, cases[i]);
        json_t *j = json_integer(cases[i]);
        char *expected = json_dumps(j, JSON_ENCODE_ANY);
        cr_assert_str_eq(w.buf, expected);
        free(expected);
        json_decref(j);
        json_writer_free(&w);
    }
}

Test(json_writer, booleans)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_bool(&w, true);
    json_writer_literal(&w, ",");
    json_writer_bool(&w, false);
    cr_assert_str_eq(w.buf, "true,false");
    json_writer_free(&w);
}

Test(json_writer, a_jansson_value_is_printed_compact_in_its_own_order)
{
    json_t *v = json_pack("{s:s, s:i, s:f, s:b, s:n, s:[s, {s:s}], s:{}}", "z", "\"q\"\n", "a", 7,
                          "r", 0.1, "t", 1, "n", "arr", "x\xe2\x80\xa8", "k", "v", "empty");
    cr_assert_not_null(v);
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_value(&w, v);
    char *expected = json_dumps(v, JSON_COMPACT);
    cr_assert_str_eq(w.buf, expected);
    free(expected);
    json_writer_free(&w);
    json_decref(v);
}

Test(json_writer, a_whole_document_parses)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "{\"s\":");
    json_writer_string(&w, "x\"y");
    json_writer_literal(&w, ",\"i\":");
    json_writer_int(&w, -42);
    json_writer_literal(&w, ",\"b\":");
    json_writer_bool(&w, true);
    json_writer_literal(&w, ",\"o\":");
    json_t *o = json_pack("{s:i}", "k", 1);
    json_writer_value(&w, o);
    json_decref(o);
    json_writer_literal(&w, "}");
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    json_error_t jerr;
    json_t *back = json_loads(w.buf, 0, &jerr);
    cr_assert_not_null(back, "%s", jerr.text);
    cr_assert_str_eq(w.buf, "{\"s\":\"x\\\"y\",\"i\":-42,\"b\":true,\"o\":{\"k\":1}}");
    json_decref(back);
    json_writer_free(&w);
}

Test(json_writer, clear_forgets_the_text_and_keeps_the_memory)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_literal(&w, "abc");
    char *buf = w.buf;
    json_writer_clear(&w);
    cr_assert_eq(w.len, 0);
    cr_assert_str_eq(w.buf, "");
    cr_assert_eq(w.buf, buf);
    json_writer_literal(&w, "d");
    cr_assert_str_eq(w.buf, "d");
    json_writer_free(&w);
    json_writer_free(&w);
    cr_assert_null(w.buf);
}

/* A growth that fails from allocation fail_at on. */
static long grow_calls;
static long grow_fail_at;

static void *failing_grow(void *p, size_t n)
{
    grow_calls++;
    if (grow_calls >= grow_fail_at)
        return NULL;
    return realloc(p, n);
}

Test(json_writer, out_of_memory_fails_the_unit_and_keeps_the_text_before_it)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_writer_literal(&w, "kept");
    w.grow = failing_grow;
    grow_calls = 0;
    grow_fail_at = 1;
    size_t mark = json_writer_begin(&w);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_writer_string(&w, big);
    json_writer_literal(&w, "after the failure, nothing");
    cr_assert_eq(json_writer_end(&w, mark), C_ERR);
    cr_assert_eq(grow_calls, 1, "nothing more is tried once failed");
    cr_assert_eq(w.len, 4);
    cr_assert_str_eq(w.buf, "kept");
    cr_assert_not(w.failed);
    /* What fits in the room already there still works. */
    mark = json_writer_begin(&w);
    json_writer_literal(&w, "!");
    cr_assert_eq(json_writer_end(&w, mark), C_OK);
    cr_assert_str_eq(w.buf, "kept!");
    json_writer_free(&w);
}

Test(json_writer, out_of_memory_on_the_first_byte_leaves_no_buffer)
{
    struct json_writer w = JSON_WRITER_INIT;
    w.grow = failing_grow;
    grow_calls = 0;
    grow_fail_at = 1;
    size_t mark = json_writer_begin(&w);
    json_writer_int(&w, 5);
    cr_assert_eq(json_writer_end(&w, mark), C_ERR);
    cr_assert_null(w.buf);
    cr_assert_eq(w.len, 0);
    json_writer_free(&w);
}
