#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/result.h"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* One allocation per series: the struct, the histogram's bucket counts and
 * the label values' text. */
struct metrics_series {
    struct metrics_series *next;
    struct metrics_family *family;
    atomic_bool set_since_sweep;
    _Atomic uint64_t value;    /* counter: the count; gauge: the double's bits */
    _Atomic uint64_t sum_bits; /* histogram: the double's bits */
    const char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t buckets[]; /* histogram: per bucket (not cumulative), +Inf last */
};

struct metrics_family {
    struct metrics_family *next;
    struct metrics_registry *registry;
    enum metrics_type type;
    const char *name; /* these point into the family's own allocation */
    const char *help;
    size_t nlabels;
    const char *labels[METRICS_MAX_LABELS];
    size_t nbounds;
    double bounds[METRICS_MAX_BUCKETS];
    pthread_mutex_t lock; /* the series list */
    struct metrics_series *series;
    struct metrics_series **series_tail;
};

struct metrics_registry {
    pthread_mutex_t lock; /* the family list */
    struct metrics_family *families;
    struct metrics_family **families_tail;
    void *(*alloc)(size_t);
    void (*release)(void *);
};

/* ---- registry ------------------------------------------------------------- */

struct metrics_registry *metrics_registry_new_with_allocator(void *(*alloc)(size_t),
                                                             void (*release)(void *))
{
    struct metrics_registry *r = alloc(sizeof(*r));
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        release(r);
        return NULL;
    }
    r->families_tail = &r->families;
    r->alloc = alloc;
    r->release = release;
    return r;
}

struct metrics_registry *metrics_registry_new(void)
{
    return metrics_registry_new_with_allocator(malloc, free);
}

static void metrics_family_free(struct metrics_family *f)
{
    void (*release)(void *) = f->registry->release;
    struct metrics_series *s = f->series;
    while (s != NULL) {
        struct metrics_series *next = s->next;
        release(s);
        s = next;
    }
    pthread_mutex_destroy(&f->lock);
    release(f);
}

void metrics_registry_free(struct metrics_registry *r)
{
    if (r == NULL)
        return;
    struct metrics_family *f = r->families;
    while (f != NULL) {
        struct metrics_family *next = f->next;
        metrics_family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&r->lock);
    r->release(r);
}

static _Atomic(struct metrics_registry *) metrics_default_registry;
static pthread_mutex_t metrics_default_lock = PTHREAD_MUTEX_INITIALIZER;

struct metrics_registry *metrics_default(void)
{
    struct metrics_registry *r = atomic_load(&metrics_default_registry);
    if (r != NULL)
        return r;
    pthread_mutex_lock(&metrics_default_lock);
    r = atomic_load(&metrics_default_registry);
    if (r == NULL) {
        r = metrics_registry_new();
        atomic_store(&metrics_default_registry, r);
    }
    pthread_mutex_unlock(&metrics_default_lock);
    return r;
}

/* ---- families --------------------------------------------------------------- */

static bool metrics_valid_name(const char *name, bool colons)
{
    if (name == NULL || name[0] == '\0')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(letter || (digit && p != name) || (colons && c == ':')))
            return false;
    }
    return true;
}

static size_t metrics_count_labels(const char *const *names)
{
    size_t n = 0;
    while (names != NULL && names[n] != NULL)
        n++;
    return n;
}

static bool metrics_same_shape(const struct metrics_family *f, enum metrics_type type,
                               const char *const *labels, size_t nlabels, const double *bounds,
                               size_t nbounds)
{
    if (f->type != type || f->nlabels != nlabels || f->nbounds != nbounds)
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        if (strcmp(f->labels[i], labels[i]) != 0)
            return false;
    }
    for (size_t i = 0; i < nbounds; i++) {
        if (f->bounds[i] != bounds[i])
            return false;
    }
    return true;
}

static bool metrics_valid_shape(enum metrics_type type, const char *name, const char *const *labels,
                                size_t nlabels, const double *bounds, size_t nbounds)
{
    if (!metrics_valid_name(name, true) || nlabels > METRICS_MAX_LABELS)
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        /* Names starting with __ are Prometheus's own; le is the bucket label. */
        if (!metrics_valid_name(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
            (type == METRICS_HISTOGRAM && strcmp(labels[i], "le") == 0))
            return false;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(labels[i], labels[j]) == 0)
                return false;
        }
    }
    if (type != METRICS_HISTOGRAM)
        return nbounds == 0;
    if (nbounds == 0 || nbounds > METRICS_MAX_BUCKETS)
        return false;
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    }
    return true;
}

static struct metrics_series *metrics_series_new(struct metrics_family *f,
                                                 const char *const *values);

static struct metrics_family *metrics_family_new(struct metrics_registry *r, enum metrics_type type,
                                                 const char *name, const char *help,
                                                 const char *const *labels, size_t nlabels,
                                                 const double *bounds, size_t nbounds)
{
    size_t size = sizeof(struct metrics_family) + strlen(name) + 1 + strlen(help) + 1;
    for (size_t i = 0; i < nlabels; i++)
        size += strlen(labels[i]) + 1;
    struct metrics_family *f = r->alloc(size);
    if (f == NULL)
        return NULL;
    memset(f, 0, sizeof(*f));
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        r->release(f);
        return NULL;
    }
    char *text = (char *)(f + 1);
    size_t n = strlen(name) + 1;
    memcpy(text, name, n);
    f->name = text;
    text += n;
    n = strlen(help) + 1;
    memcpy(text, help, n);
    f->help = text;
    text += n;
    for (size_t i = 0; i < nlabels; i++) {
        n = strlen(labels[i]) + 1;
        memcpy(text, labels[i], n);
        f->labels[i] = text;
        text += n;
    }
    f->registry = r;
    f->type = type;
    f->nlabels = nlabels;
    f->nbounds = nbounds;
    for (size_t i = 0; i < nbounds; i++)
        f->bounds[i] = bounds[i];
    f->series_tail = &f->series;
    /* A family without labels is one series: show it at 0 from the start. */
    if (nlabels == 0) {
        struct metrics_series *s = metrics_series_new(f, NULL);
        if (s == NULL) {
            pthread_mutex_destroy(&f->lock);
            r->release(f);
            return NULL;
        }
        f->series = s;
        f->series_tail = &s->next;
    }
    return f;
}

static struct metrics_family *metrics_register(struct metrics_registry *r, enum metrics_type type,
                                               const char *name, const char *help,
                                               const char *const *labels, const double *bounds,
                                               size_t nbounds)
{
    if (r == NULL)
        return NULL;
    size_t nlabels = metrics_count_labels(labels);
    if (!metrics_valid_shape(type, name, labels, nlabels, bounds, nbounds))
        return NULL;
    pthread_mutex_lock(&r->lock);
    struct metrics_family *f = r->families;
    while (f != NULL && strcmp(f->name, name) != 0)
        f = f->next;
    if (f != NULL) {
        if (!metrics_same_shape(f, type, labels, nlabels, bounds, nbounds))
            f = NULL;
    } else {
        f = metrics_family_new(r, type, name, help != NULL ? help : "", labels, nlabels, bounds,
                               nbounds);
        if (f != NULL) {
            *r->families_tail = f;
            r->families_tail = &f->next;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return f;
}

struct metrics_family *metrics_counter(struct metrics_registry *r, const char *name,
                                       const char *help, const char *const *label_names)
{
    return metrics_register(r, METRICS_COUNTER, name, help, label_names, NULL, 0);
}

struct metrics_family *metrics_gauge(struct metrics_registry *r, const char *name, const char *help,
                                     const char *const *label_names)
{
    return metrics_register(r, METRICS_GAUGE, name, help, label_names, NULL, 0);
}

struct metrics_family *metrics_histogram(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *label_names,
                                         const double *bounds, size_t nbounds)
{
    return metrics_register(r, METRICS_HISTOGRAM, name, help, label_names, bounds, nbounds);
}

/* ---- series ----------------------------------------------------------------- */

static size_t metrics_bucket_count(const struct metrics_family *f)
{
    return f->type == METRICS_HISTOGRAM ? f->nbounds + 1 : 0;
}

static struct metrics_series *metrics_series_new(struct metrics_family *f,
                                                 const char *const *values)
{
    size_t nbuckets = metrics_bucket_count(f);
    size_t size = sizeof(struct metrics_series) + nbuckets * sizeof(_Atomic uint64_t);
    for (size_t i = 0; i < f->nlabels; i++)
        size += strlen(values[i]) + 1;
    struct metrics_series *s = f->registry->alloc(size);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->family = f;
    atomic_init(&s->set_since_sweep, false);
    atomic_init(&s->value, 0);
    atomic_init(&s->sum_bits, 0);
    for (size_t i = 0; i < nbuckets; i++)
        atomic_init(&s->buckets[i], 0);
    char *text = (char *)&s->buckets[nbuckets];
    for (size_t i = 0; i < f->nlabels; i++) {
        size_t n = strlen(values[i]) + 1;
        memcpy(text, values[i], n);
        s->values[i] = text;
        text += n;
    }
    return s;
}

static bool metrics_series_matches(const struct metrics_series *s, const char *const *values,
                                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    }
    return true;
}

struct metrics_series *metrics_series(struct metrics_family *f, const char *const *label_values)
{
    if (f == NULL)
        return NULL;
    for (size_t i = 0; i < f->nlabels; i++) {
        if (label_values == NULL || label_values[i] == NULL)
            return NULL;
    }
    pthread_mutex_lock(&f->lock);
    struct metrics_series *s = f->series;
    while (s != NULL && !metrics_series_matches(s, label_values, f->nlabels))
        s = s->next;
    if (s == NULL) {
        s = metrics_series_new(f, label_values);
        if (s != NULL) {
            *f->series_tail = s;
            f->series_tail = &s->next;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return s;
}

static uint64_t metrics_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

static double metrics_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void metrics_add_double(_Atomic uint64_t *cell, double delta)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old,
                                                  metrics_bits(metrics_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_counter_add(struct metrics_series *s, uint64_t n)
{
    if (s == NULL || s->family->type != METRICS_COUNTER)
        return;
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_gauge_set(struct metrics_series *s, double value)
{
    if (s == NULL || s->family->type != METRICS_GAUGE)
        return;
    atomic_store_explicit(&s->value, metrics_bits(value), memory_order_relaxed);
    atomic_store_explicit(&s->set_since_sweep, true, memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_series *s, double delta)
{
    if (s == NULL || s->family->type != METRICS_GAUGE)
        return;
    metrics_add_double(&s->value, delta);
    atomic_store_explicit(&s->set_since_sweep, true, memory_order_relaxed);
}

void metrics_histogram_observe(struct metrics_series *s, double value)
{
    if (s == NULL || s->family->type != METRICS_HISTOGRAM || isnan(value))
        return;
    const struct metrics_family *f = s->family;
    size_t i = 0;
    while (i < f->nbounds && value > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    metrics_add_double(&s->sum_bits, value);
}

void metrics_gauge_sweep(struct metrics_family *f)
{
    if (f == NULL || f->type != METRICS_GAUGE)
        return;
    pthread_mutex_lock(&f->lock);
    struct metrics_series **pp = &f->series;
    while (*pp != NULL) {
        struct metrics_series *s = *pp;
        if (atomic_exchange(&s->set_since_sweep, false)) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        f->registry->release(s);
    }
    f->series_tail = pp;
    pthread_mutex_unlock(&f->lock);
}

/* ---- rendering ---------------------------------------------------------------- */

struct metrics_buffer {
    char *data;
    size_t len, cap;
    bool failed;
};

static void metrics_reserve(struct metrics_buffer *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap > 0 ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = true;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

static void metrics_append(struct metrics_buffer *b, const char *text, size_t n)
{
    metrics_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void metrics_puts(struct metrics_buffer *b, const char *text)
{
    metrics_append(b, text, strlen(text));
}

/* Label values escape backslash, double quote and newline; help text only
 * backslash and newline (the format's two escaping rules). */
static void metrics_put_escaped(struct metrics_buffer *b, const char *text, bool quotes)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\')
            metrics_append(b, "\\\\", 2);
        else if (*p == '\n')
            metrics_append(b, "\\n", 2);
        else if (quotes && *p == '"')
            metrics_append(b, "\\\"", 2);
        else
            metrics_append(b, p, 1);
    }
}

/* Whole numbers as integers (a backlog of 1000000, not 1e+06), anything else
 * in the fewest digits that read back as the same double. */
static void metrics_format_double(double v, char *out, size_t outlen)
{
    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, outlen, "%.0f", v);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(out, outlen, "%.*g", precision, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void metrics_put_double(struct metrics_buffer *b, double v)
{
    char text[40];
    metrics_format_double(v, text, sizeof(text));
    metrics_puts(b, text);
}

static void metrics_put_u64(struct metrics_buffer *b, uint64_t v)
{
    char text[24];
    snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
    metrics_puts(b, text);
}

/* name{labels...[,le="bound"]} (no braces when there is no label at all). */
static void metrics_put_sample_name(struct metrics_buffer *b, const struct metrics_family *f,
                                    const struct metrics_series *s, const char *suffix,
                                    const char *le)
{
    metrics_puts(b, f->name);
    metrics_puts(b, suffix);
    if (f->nlabels == 0 && le == NULL) {
        metrics_append(b, " ", 1);
        return;
    }
    metrics_append(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i > 0)
            metrics_append(b, ",", 1);
        metrics_puts(b, f->labels[i]);
        metrics_append(b, "=\"", 2);
        metrics_put_escaped(b, s->values[i], true);
        metrics_append(b, "\"", 1);
    }
    if (le != NULL) {
        if (f->nlabels > 0)
            metrics_append(b, ",", 1);
        metrics_puts(b, "le=\"");
        metrics_puts(b, le);
        metrics_append(b, "\"", 1);
    }
    metrics_append(b, "} ", 2);
}

static void metrics_render_histogram(struct metrics_buffer *b, const struct metrics_family *f,
                                     const struct metrics_series *s)
{
    /* The count is the sum of the buckets read here, so the +Inf bucket and
     * _count always agree even while observations land meanwhile. */
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            metrics_format_double(f->bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        metrics_put_sample_name(b, f, s, "_bucket", le);
        metrics_put_u64(b, cumulative);
        metrics_append(b, "\n", 1);
    }
    metrics_put_sample_name(b, f, s, "_sum", NULL);
    metrics_put_double(b, metrics_double(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
    metrics_append(b, "\n", 1);
    metrics_put_sample_name(b, f, s, "_count", NULL);
    metrics_put_u64(b, cumulative);
    metrics_append(b, "\n", 1);
}

static void metrics_render_family(struct metrics_buffer *b, struct metrics_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    metrics_puts(b, "# HELP ");
    metrics_puts(b, f->name);
    metrics_append(b, " ", 1);
    metrics_put_escaped(b, f->help, false);
    metrics_puts(b, "\n# TYPE ");
    metrics_puts(b, f->name);
    metrics_append(b, " ", 1);
    metrics_puts(b, type_names[f->type]);
    metrics_append(b, "\n", 1);
    pthread_mutex_lock(&f->lock);
    for (const struct metrics_series *s = f->series; s != NULL; s = s->next) {
        uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        switch (f->type) {
        case METRICS_COUNTER:
            metrics_put_sample_name(b, f, s, "", NULL);
            metrics_put_u64(b, v);
            metrics_append(b, "\n", 1);
            break;
        case METRICS_GAUGE:
            metrics_put_sample_name(b, f, s, "", NULL);
            metrics_put_double(b, metrics_double(v));
            metrics_append(b, "\n", 1);
            break;
        case METRICS_HISTOGRAM:
            metrics_render_histogram(b, f, s);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

int metrics_render(struct metrics_registry *r, char **text, size_t *len)
{
    if (r == NULL)
        return C_ERR;
    struct metrics_buffer b = {0};
    metrics_reserve(&b, 0);
    if (!b.failed)
        b.data[0] = '\0';
    pthread_mutex_lock(&r->lock);
    for (struct metrics_family *f = r->families; f != NULL && !b.failed; f = f->next)
        metrics_render_family(&b, f);
    pthread_mutex_unlock(&r->lock);
    if (b.failed) {
        free(b.data);
        return C_ERR;
    }
    *text = b.data;
    *len = b.len;
    return C_OK;
}

/* ---- the process ---------------------------------------------------------------- */

void metrics_register_process(const char *service)
{
    struct metrics_registry *r = metrics_default();
    static const char *const build_labels[] = {"service", "version", NULL};
    struct metrics_family *build = metrics_gauge(
        r, "caisse_build_info", "Always 1; the labels say which service and which build this is",
        build_labels);
    const char *values[] = {service, metrics_build_version};
    metrics_gauge_set(metrics_series(build, values), 1);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct metrics_family *start =
        metrics_gauge(r, "process_start_time_seconds",
                      "When the process started, in seconds since the Unix epoch", NULL);
    metrics_gauge_set(metrics_series(start, NULL), (double)now.tv_sec + (double)now.tv_nsec / 1e9);
}
