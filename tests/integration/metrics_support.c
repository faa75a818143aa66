#include "metrics_support.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define PROM_ERR (-1)

struct prom_parser {
    struct prom_scrape *s;
    json_t *families;    /* name -> {"type", "help": bool, "closed": bool} */
    json_t *seen;        /* series key -> true */
    const char *current; /* the family of the group being read, or NULL */
    int line;
    char *err;
    size_t errlen;
};

static int prom_fail(struct prom_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int prom_fail(struct prom_parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %d: %s", p->line, msg);
    return PROM_ERR;
}

static bool prom_name_char(char c, bool first, bool colons)
{
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return letter || (!first && c >= '0' && c <= '9') || (colons && c == ':');
}

/* Reads a metric (colons) or label name at *pos into out. */
static int prom_read_name(struct prom_parser *p, const char **pos, bool colons, char *out,
                          size_t outlen)
{
    const char *start = *pos, *c = start;
    while (*c != '\0' && prom_name_char(*c, c == start, colons))
        c++;
    size_t n = (size_t)(c - start);
    if (n == 0)
        return prom_fail(p, "a name was expected at \"%.20s\"", start);
    if (n >= outlen)
        return prom_fail(p, "name too long");
    memcpy(out, start, n);
    out[n] = '\0';
    *pos = c;
    return 0;
}

/* The format's float: Go's ParseFloat forms without hex, or +Inf, -Inf, NaN. */
static bool prom_parse_number(const char *text, double *out)
{
    if (strcmp(text, "+Inf") == 0 || strcmp(text, "-Inf") == 0 || strcmp(text, "NaN") == 0) {
        *out = strcmp(text, "NaN") == 0 ? NAN : text[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    const char *c = text;
    if (*c == '+' || *c == '-')
        c++;
    size_t digits = 0;
    while (*c >= '0' && *c <= '9')
        c++, digits++;
    if (*c == '.') {
        c++;
        while (*c >= '0' && *c <= '9')
            c++, digits++;
    }
    if (digits == 0)
        return false;
    if (*c == 'e' || *c == 'E') {
        c++;
        if (*c == '+' || *c == '-')
            c++;
        if (!(*c >= '0' && *c <= '9'))
            return false;
        while (*c >= '0' && *c <= '9')
            c++;
    }
    if (*c != '\0')
        return false;
    *out = strtod(text, NULL);
    return true;
}

static json_t *prom_family(struct prom_parser *p, const char *name)
{
    json_t *f = json_object_get(p->families, name);
    if (f == NULL) {
        f = json_pack("{sb sb}", "help", 0, "closed", 0);
        json_object_set_new(p->families, name, f);
    }
    return f;
}

/* A line about family name starts or continues its group. */
static int prom_enter_group(struct prom_parser *p, const char *name)
{
    if (p->current != NULL && strcmp(p->current, name) == 0)
        return 0;
    if (p->current != NULL)
        json_object_set_new(prom_family(p, p->current), "closed", json_true());
    json_t *f = prom_family(p, name);
    if (json_is_true(json_object_get(f, "closed")))
        return prom_fail(p, "the lines of %s are not one group", name);
    p->current = json_object_iter_key(json_object_iter_at(p->families, name));
    return 0;
}

static int prom_comment(struct prom_parser *p, const char *line)
{
    bool help = strncmp(line, "# HELP ", 7) == 0;
    bool type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return 0; /* any other comment is allowed and means nothing */
    const char *c = line + 7;
    char name[256];
    if (prom_read_name(p, &c, true, name, sizeof(name)) != 0)
        return PROM_ERR;
    if (prom_enter_group(p, name) != 0)
        return PROM_ERR;
    json_t *f = prom_family(p, name);
    if (help) {
        if (json_is_true(json_object_get(f, "help")))
            return prom_fail(p, "second HELP for %s", name);
        json_object_set_new(f, "help", json_true());
        if (*c != ' ' && *c != '\0')
            return prom_fail(p, "HELP %s: a space must follow the name", name);
        for (; *c != '\0'; c++) {
            if (*c == '\\' && c[1] != '\\' && c[1] != 'n')
                return prom_fail(p, "HELP %s: invalid escape \\%c", name, c[1]);
            if (*c == '\\')
                c++;
        }
        return 0;
    }
    if (json_object_get(f, "type") != NULL)
        return prom_fail(p, "second TYPE for %s", name);
    if (json_is_true(json_object_get(f, "has_samples")))
        return prom_fail(p, "TYPE of %s after its samples", name);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    if (*c != ' ')
        return prom_fail(p, "TYPE %s: a space must follow the name", name);
    c++;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(c, types[i]) == 0) {
            json_object_set_new(f, "type", json_string(types[i]));
            json_object_set_new(p->s->types, name, json_string(types[i]));
            if (strcmp(types[i], "counter") == 0 &&
                (strlen(name) < 7 || strcmp(name + strlen(name) - 6, "_total") != 0))
                return prom_fail(p, "counter %s is not named *_total", name);
            return 0;
        }
    }
    return prom_fail(p, "TYPE %s: unknown type \"%s\"", name, c);
}

/* {name="value",...}: values unescaped into labels. */
static int prom_labels(struct prom_parser *p, const char **pos, json_t *labels)
{
    const char *c = *pos + 1; /* past '{' */
    if (*c == '}') {
        *pos = c + 1;
        return 0;
    }
    for (;;) {
        char name[256];
        if (prom_read_name(p, &c, false, name, sizeof(name)) != 0)
            return PROM_ERR;
        if (json_object_get(labels, name) != NULL)
            return prom_fail(p, "label %s twice", name);
        if (c[0] != '=' || c[1] != '"')
            return prom_fail(p, "label %s: =\" expected", name);
        c += 2;
        char value[1024];
        size_t n = 0;
        for (; *c != '"'; c++) {
            if (*c == '\0')
                return prom_fail(p, "label %s: unterminated value", name);
            char ch = *c;
            if (ch == '\\') {
                c++;
                if (*c == 'n')
                    ch = '\n';
                else if (*c == '\\' || *c == '"')
                    ch = *c;
                else
                    return prom_fail(p, "label %s: invalid escape \\%c", name, *c);
            }
            if (n + 1 >= sizeof(value))
                return prom_fail(p, "label %s: value too long", name);
            value[n++] = ch;
        }
        value[n] = '\0';
        json_object_set_new(labels, name, json_string(value));
        c++; /* past '"' */
        if (*c == '}') {
            *pos = c + 1;
            return 0;
        }
        if (*c != ',')
            return prom_fail(p, "label %s: , or } expected", name);
        c++;
    }
}

/* The family a sample name belongs to: itself, or a histogram's for its
 * _bucket, _sum and _count. */
static const char *prom_family_of(struct prom_parser *p, const char *name, char *buf, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(name), sn = strlen(suffixes[i]);
        if (n > sn && strcmp(name + n - sn, suffixes[i]) == 0) {
            snprintf(buf, len, "%.*s", (int)(n - sn), name);
            const char *t =
                json_string_value(json_object_get(json_object_get(p->families, buf), "type"));
            if (t != NULL && strcmp(t, "histogram") == 0)
                return buf;
        }
    }
    return name;
}

static int prom_sample(struct prom_parser *p, const char *line)
{
    const char *c = line;
    char name[256], family_buf[256];
    if (prom_read_name(p, &c, true, name, sizeof(name)) != 0)
        return PROM_ERR;
    json_t *labels = json_object();
    if (*c == '{' && prom_labels(p, &c, labels) != 0) {
        json_decref(labels);
        return PROM_ERR;
    }
    if (*c != ' ') {
        json_decref(labels);
        return prom_fail(p, "%s: one space then the value expected", name);
    }
    c++;
    char value_text[64];
    const char *end = strchr(c, ' ');
    size_t vn = end != NULL ? (size_t)(end - c) : strlen(c);
    double value = 0;
    snprintf(value_text, sizeof(value_text), "%.*s", (int)vn, c);
    if (vn >= sizeof(value_text) || !prom_parse_number(value_text, &value)) {
        json_decref(labels);
        return prom_fail(p, "%s: \"%s\" is not a number", name, value_text);
    }
    if (end != NULL) { /* a timestamp: an integer of milliseconds */
        const char *t = end + 1;
        if (*t == '-')
            t++;
        if (*t == '\0' || strspn(t, "0123456789") != strlen(t)) {
            json_decref(labels);
            return prom_fail(p, "%s: junk after the value: \"%s\"", name, end);
        }
    }
    const char *family = prom_family_of(p, name, family_buf, sizeof(family_buf));
    json_t *f = json_object_get(p->families, family);
    const char *type = json_string_value(json_object_get(f, "type"));
    if (type == NULL) {
        json_decref(labels);
        return prom_fail(p, "sample %s has no TYPE", name);
    }
    if (prom_enter_group(p, family) != 0) {
        json_decref(labels);
        return PROM_ERR;
    }
    json_object_set_new(f, "has_samples", json_true());
    if (strcmp(type, "counter") == 0 && (isnan(value) || value < 0)) {
        json_decref(labels);
        return prom_fail(p, "counter %s is %s", name, value_text);
    }
    bool bucket = strcmp(family, name) != 0 && strcmp(name + strlen(family), "_bucket") == 0;
    if (bucket != (json_object_get(labels, "le") != NULL) && strcmp(family, name) != 0) {
        json_decref(labels);
        return prom_fail(p, "%s: le belongs on buckets and only there", name);
    }
    char *key_labels = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
    char key[2048];
    snprintf(key, sizeof(key), "%s%s", name, key_labels);
    free(key_labels);
    if (json_object_get(p->seen, key) != NULL) {
        json_decref(labels);
        return prom_fail(p, "series %s twice", key);
    }
    json_object_set_new(p->seen, key, json_true());
    json_t *v = isnan(value)   ? json_string("NaN")
                : isinf(value) ? json_string(value > 0 ? "+Inf" : "-Inf")
                               : json_real(value);
    json_array_append_new(p->s->samples, json_pack("{ss so so ss}", "name", name, "labels", labels,
                                                   "value", v, "family", family));
    return 0;
}

static double prom_number(const json_t *v)
{
    if (json_is_string(v)) {
        double d = 0;
        prom_parse_number(json_string_value(v), &d);
        return d;
    }
    return json_real_value(v);
}

struct prom_histogram_group {
    char key[1024]; /* family and labels without le */
    double last_le, last_count, inf_count, count_value;
    bool buckets, inf, sum, count;
};

static int prom_error(struct prom_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int prom_error(struct prom_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return PROM_ERR;
}

static int prom_check_bucket(struct prom_parser *p, struct prom_histogram_group *g,
                             const char *le_text, double v)
{
    double le = 0;
    if (le_text == NULL || !prom_parse_number(le_text, &le) || isnan(le))
        return prom_error(p, "%s: le \"%s\" is not a bound", g->key, le_text ? le_text : "");
    if (g->inf || (g->buckets && !(le > g->last_le)))
        return prom_error(p, "%s: bucket le=%s out of order", g->key, le_text);
    if (g->buckets && v < g->last_count)
        return prom_error(p, "%s: bucket le=%s is not cumulative", g->key, le_text);
    g->buckets = true;
    g->last_le = le;
    g->last_count = v;
    if (isinf(le) && le > 0) {
        g->inf = true;
        g->inf_count = v;
    }
    return 0;
}

/* Per histogram and label set (le aside): buckets in increasing le ending
 * at +Inf, counts cumulative, _count equal to the +Inf bucket, a _sum. */
static int prom_check_histograms(struct prom_parser *p)
{
    size_t cap = json_array_size(p->s->samples) + 1, n = 0;
    struct prom_histogram_group *groups = calloc(cap, sizeof(*groups));
    cr_assert_not_null(groups);
    size_t i;
    json_t *smp;
    int rc = 0;
    json_array_foreach(p->s->samples, i, smp)
    {
        const char *family = json_string_value(json_object_get(smp, "family"));
        const char *name = json_string_value(json_object_get(smp, "name"));
        if (strcmp(family, name) == 0)
            continue;
        json_t *labels = json_deep_copy(json_object_get(smp, "labels"));
        char le_text[64] = "";
        const char *le = json_string_value(json_object_get(labels, "le"));
        if (le != NULL)
            snprintf(le_text, sizeof(le_text), "%s", le);
        json_object_del(labels, "le");
        char *lt = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(labels);
        char key[1024];
        snprintf(key, sizeof(key), "%s%s", family, lt);
        free(lt);
        struct prom_histogram_group *g = NULL;
        for (size_t k = 0; k < n && g == NULL; k++) {
            if (strcmp(groups[k].key, key) == 0)
                g = &groups[k];
        }
        if (g == NULL) {
            g = &groups[n++];
            snprintf(g->key, sizeof(g->key), "%s", key);
        }
        double v = prom_number(json_object_get(smp, "value"));
        const char *suffix = name + strlen(family);
        if (strcmp(suffix, "_bucket") == 0) {
            rc = prom_check_bucket(p, g, le_text[0] != '\0' ? le_text : NULL, v);
        } else if (strcmp(suffix, "_sum") == 0) {
            g->sum = true;
        } else {
            g->count = true;
            g->count_value = v;
        }
        if (rc != 0)
            break;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        struct prom_histogram_group *g = &groups[k];
        if (!g->inf)
            rc = prom_error(p, "%s: no +Inf bucket", g->key);
        else if (!g->sum || !g->count)
            rc = prom_error(p, "%s: _sum or _count missing", g->key);
        else if (g->count_value != g->inf_count)
            rc = prom_error(p, "%s: _count %g differs from the +Inf bucket %g", g->key,
                            g->count_value, g->inf_count);
    }
    free(groups);
    return rc;
}

void prom_free(struct prom_scrape *s)
{
    if (s == NULL)
        return;
    json_decref(s->samples);
    json_decref(s->types);
    free(s);
}

int prom_parse(const char *text, struct prom_scrape **out, char *err, size_t errlen)
{
    struct prom_scrape *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->samples = json_array();
    s->types = json_object();
    struct prom_parser p = {
        .s = s, .families = json_object(), .seen = json_object(), .err = err, .errlen = errlen};
    int rc = 0;
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] != '\n') {
        snprintf(err, errlen, "the text does not end with a newline");
        rc = PROM_ERR;
    }
    char *copy = strdup(text);
    char *save = NULL;
    /* strtok_r would skip empty lines: walk them by hand. */
    for (char *line = copy; rc == 0 && line != NULL && *line != '\0'; line = save) {
        char *nl = strchr(line, '\n');
        save = nl != NULL ? nl + 1 : NULL;
        if (nl != NULL)
            *nl = '\0';
        p.line++;
        if (*line == '\0')
            rc = prom_fail(&p, "empty line");
        else if (*line == '#')
            rc = prom_comment(&p, line);
        else
            rc = prom_sample(&p, line);
    }
    free(copy);
    if (rc == 0)
        rc = prom_check_histograms(&p);
    json_decref(p.families);
    json_decref(p.seen);
    if (rc != 0) {
        prom_free(s);
        return PROM_ERR;
    }
    *out = s;
    return 0;
}

struct prom_scrape *prom_scrape(const char *base_url)
{
    struct api_response r = test_api_at(base_url, "GET", "/metrics", NULL, NULL, NULL);
    cr_assert_eq(r.status, 200, "GET %s/metrics: %ld %s", base_url, r.status, r.text);
    cr_assert_str_eq(r.content_type, "text/plain; version=0.0.4; charset=utf-8", "%s/metrics",
                     base_url);
    struct prom_scrape *s = NULL;
    char err[600];
    cr_assert_eq(prom_parse(r.text, &s, err, sizeof(err)), 0, "%s/metrics is not valid: %s\n%s",
                 base_url, err, r.text);
    test_api_free(&r);
    return s;
}

/* Whether the sample's labels include every pair (exactly: and no others). */
static bool prom_labels_match(const json_t *have, const char *const *want, bool exact)
{
    size_t n = 0;
    for (; want != NULL && want[n] != NULL; n += 2) {
        const char *v = json_string_value(json_object_get(have, want[n]));
        if (v == NULL || strcmp(v, want[n + 1]) != 0)
            return false;
    }
    return !exact || json_object_size(have) == n / 2;
}

static const json_t *prom_find(const struct prom_scrape *s, const char *name,
                               const char *const *labels)
{
    size_t i;
    json_t *smp;
    json_array_foreach(s->samples, i, smp)
    {
        if (strcmp(json_string_value(json_object_get(smp, "name")), name) == 0 &&
            prom_labels_match(json_object_get(smp, "labels"), labels, true))
            return smp;
    }
    return NULL;
}

bool prom_has(const struct prom_scrape *s, const char *name, const char *const *labels)
{
    return prom_find(s, name, labels) != NULL;
}

double prom_value(const struct prom_scrape *s, const char *name, const char *const *labels)
{
    const json_t *smp = prom_find(s, name, labels);
    return smp != NULL ? prom_number(json_object_get(smp, "value")) : 0;
}

size_t prom_count(const struct prom_scrape *s, const char *name, const char *const *labels)
{
    size_t n = 0, i;
    json_t *smp;
    json_array_foreach(s->samples, i, smp)
    {
        if (strcmp(json_string_value(json_object_get(smp, "name")), name) == 0 &&
            prom_labels_match(json_object_get(smp, "labels"), labels, false))
            n++;
    }
    return n;
}
