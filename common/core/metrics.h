/* A small Prometheus registry: counters and gauges with a fixed label set,
 * histograms with fixed buckets, rendered in the text exposition format 0.0.4.
 *
 * Families are registered once (registering the same name again with the
 * same shape returns the same family, so modules may do it lazily). A series
 * (one set of label values) is looked up or created under the family's short
 * mutex; observing it is a few atomic operations with no allocation, so a
 * caller on a hot path with fixed labels keeps the series handle. Handles stay
 * valid as long as the registry, except after metrics_gauge_sweep.
 *
 * Every function accepts a NULL family or series and then does nothing: an
 * allocation failure costs a metric, never the caller's work. */
#ifndef CAISSE_METRICS_H
#define CAISSE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32

struct metrics_registry;
struct metrics_family;
struct metrics_series;

/* NULL when out of memory. */
struct metrics_registry *metrics_registry_new(void);
/* The same with the registry's own allocations (families and series, not
 * rendered text) made by alloc and released by release: tests make it fail. */
struct metrics_registry *metrics_registry_new_with_allocator(void *(*alloc)(size_t),
                                                             void (*release)(void *));
void metrics_registry_free(struct metrics_registry *r);

/* The process's registry, the one /metrics serves; created on first use and
 * never freed. NULL only if that first allocation failed (retried next call). */
struct metrics_registry *metrics_default(void);

/* label_names: NULL-terminated (at most METRICS_MAX_LABELS) or NULL for none.
 * NULL when the name or a label name is not a valid Prometheus name, the name
 * is taken by a family of another shape, or out of memory. A family without
 * labels has its one series (at 0) from the start. */
struct metrics_family *metrics_counter(struct metrics_registry *r, const char *name,
                                       const char *help, const char *const *label_names);
struct metrics_family *metrics_gauge(struct metrics_registry *r, const char *name, const char *help,
                                     const char *const *label_names);
/* bounds: the buckets' upper bounds, strictly increasing, finite, at most
 * METRICS_MAX_BUCKETS; the +Inf bucket is implicit. */
struct metrics_family *metrics_histogram(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *label_names,
                                         const double *bounds, size_t nbounds);

/* The series of these label values (one per label name, in order; NULL for
 * a family without labels), created at 0 if new. NULL: out of memory. */
struct metrics_series *metrics_series(struct metrics_family *f, const char *const *label_values);

void metrics_counter_add(struct metrics_series *s, uint64_t n);
void metrics_gauge_set(struct metrics_series *s, double value);
void metrics_gauge_add(struct metrics_series *s, double delta);
void metrics_histogram_observe(struct metrics_series *s, double value);

/* For gauges that describe a changing set (the partitions a consumer holds):
 * removes every series of f not set since the previous sweep. Handles of the
 * removed series become invalid, so keep none for such a family. */
void metrics_gauge_sweep(struct metrics_family *f);

/* The registry in the text format: *text is a new NUL-terminated string of
 * *len bytes (free() it). C_ERR: out of memory, nothing allocated. */
int metrics_render(struct metrics_registry *r, char **text, size_t *len);

/* The standard series every service exports in the default registry:
 * caisse_build_info{service,version} 1 and process_start_time_seconds. */
void metrics_register_process(const char *service);

/* The build's version (git describe at build time, "unknown" without git). */
extern const char metrics_build_version[];

#endif
