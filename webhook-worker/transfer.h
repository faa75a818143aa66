/* One webhook request: the signed POST of a claimed delivery on libcurl's
 * multi interface, guarded so it connects to allowed addresses only, its
 * response body read up to a byte cap (the connection is closed past it) and
 * kept up to TRANSFER_BODY_MAX bytes for the attempt log, and its result once
 * over. A transfer also carries the delivery through the
 * scheduler (held, sending) and the recorder (finished, until recorded). */
#ifndef WEBHOOK_WORKER_TRANSFER_H
#define WEBHOOK_WORKER_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "infra/netguard.h"
#include "recorder.h"
#include "scheduler.h"
#include "webhook_dispatch.h"

/* Response bodies are kept for the attempt log up to this many bytes. */
#define TRANSFER_BODY_MAX 20000
#define TRANSFER_USER_AGENT "caisse-webhooks/1.0"

struct transfer_options {
    const struct netguard_allowlist *allowlist;
    long timeout_ms;
    long connect_timeout_ms;
    /* Most response body bytes read (CAISSE_WEBHOOK_RESPONSE_MAX_BYTES): past
     * them the connection is closed and the answer is what its status line
     * said, so a receiver streaming an endless body cannot hold a slot. */
    size_t body_read_max;
};

/* What transfer's body callback does with n more bytes when stored bytes are
 * kept and read bytes were read before them: *keep of them are stored (up to
 * store_max in all); false: they would pass read_max, the transfer stops. */
bool transfer_body_step(size_t stored, size_t read, size_t n, size_t store_max, size_t read_max,
                        size_t *keep);

struct transfer {
    struct scheduler_item slot;  /* while held or sending */
    struct recorder_item record; /* once finished, until recorded */
    struct webhook_dispatch_job job;
    const struct transfer_options *opt;
    CURLM *multi; /* the one it was added to */
    CURL *easy;   /* NULL once finished (or never started) */
    struct curl_slist *headers;
    char *body; /* response, TRANSFER_BODY_MAX + 1 bytes, allocated on first data */
    size_t body_len;
    size_t body_read; /* bytes of the response body read, kept or not */
    bool body_capped; /* stopped at opt->body_read_max */
    bool forbidden;
    char forbidden_desc[128];
    char errbuf[CURL_ERROR_SIZE];
    int64_t started_ms;
    /* The result, once finished. */
    long duration_ms;
    long status_code;  /* as answered, even when the transfer failed afterwards */
    long verdict_code; /* status_code if the exchange completed, else 0 */
    long retry_after_s;
    char error[CURL_ERROR_SIZE + 64];
    bool has_error;
};

/* The transfer an embedded item belongs to. */
#define transfer_of_slot(item)                                                                     \
    ((struct transfer *)(void *)((char *)(item)-offsetof(struct transfer, slot)))
#define transfer_of_record(item)                                                                   \
    ((struct transfer *)(void *)((char *)(item)-offsetof(struct transfer, record)))

/* A new transfer of job, which it takes over (job is left empty); opt must
 * outlive it. NULL: out of memory, job untouched. */
struct transfer *transfer_new(struct webhook_dispatch_job *job, const struct transfer_options *opt);
/* Frees t, aborting its request if one is running. */
void transfer_free(struct transfer *t);

/* Signs the request and adds it to multi. C_ERR: it cannot even be sent
 * (malformed secret, out of memory); t then holds that failed attempt as its
 * result, so the retry schedule still applies. */
int transfer_start(struct transfer *t, CURLM *multi);
/* The next request of multi that is over, finished (its result filled in,
 * its connection handle released); NULL when none is. */
struct transfer *transfer_next_done(CURLM *multi);

#endif
