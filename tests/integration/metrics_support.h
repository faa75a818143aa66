/* Reading the services' /metrics in tests: a strict parser of the Prometheus
 * text exposition format 0.0.4, written from the format's description and
 * independent of common/core/metrics.c, and lookups of samples by name and labels. */
#ifndef TESTS_INTEGRATION_METRICS_SUPPORT_H
#define TESTS_INTEGRATION_METRICS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The samples of one scrape: a JSON array of {"name", "labels": {..}, "value"}
 * (value a real; +Inf, -Inf and NaN as the strings), in text order. */
struct prom_scrape {
    json_t *samples;
    json_t *types; /* family name -> "counter", "gauge", "histogram", ... */
};

/* C_OK (0) and *out, or -1 with the first violation (and its line) in err:
 * every line ends with \n; HELP and TYPE at most once per family, TYPE before
 * its samples; every sample belongs to a TYPEd family and a family's lines
 * form one group; names, label names, escapes (\\, \", \n only) and numbers
 * as the format defines them; no series twice; counters named *_total and
 * never negative; histograms with le on every bucket, bounds increasing to
 * +Inf, counts cumulative, and _count equal to the +Inf bucket, with _sum. */
int prom_parse(const char *text, struct prom_scrape **out, char *err, size_t errlen);
void prom_free(struct prom_scrape *s);

/* GET <base_url>/metrics: asserts 200, Content-Type text/plain;
 * version=0.0.4 and that prom_parse accepts the body. */
struct prom_scrape *prom_scrape(const char *base_url);

/* labels: NULL-terminated name, value, name, value... (NULL for none). */
/* Whether a sample name has exactly these labels. */
bool prom_has(const struct prom_scrape *s, const char *name, const char *const *labels);
/* Its value, 0 when there is no such sample (a counter not yet created). */
double prom_value(const struct prom_scrape *s, const char *name, const char *const *labels);
/* How many samples named name have at least these labels. */
size_t prom_count(const struct prom_scrape *s, const char *name, const char *const *labels);

#endif
