/* Request validation for the REST API: complete, so that a command that reaches
 * the session worker is always well formed. Messages are the API's contract. */
#ifndef CAISSE_VALIDATE_H
#define CAISSE_VALIDATE_H

#include <stdint.h>

#include <jansson.h>

#include "session.h"

struct validate_error {
    char message[300];
    char param[64]; /* "" when the error concerns no single parameter */
};

struct validate_create_options {
    const char *default_currency; /* the organization's */
    int64_t now;                  /* epoch seconds */
    long default_ttl_seconds;
    long min_ttl_seconds;
    long max_ttl_seconds;
};

/* Checks a parsed POST /checkout-sessions body and fills the request fields of
 * out (which must be session_init()ed). Tenancy, ids and times other than
 * expires_at are the caller's. On C_ERR err says why; out may hold partial
 * values and is still freed by session_free. */
int validate_create_request(const json_t *body, const struct validate_create_options *opt,
                            struct session *out, struct validate_error *err);

/* Query parameters of GET /checkout-sessions; NULL = absent. */
int validate_list_query(const char *status, const char *limit, const char *offset,
                        const char *starting_after, struct session_list_query *out,
                        struct validate_error *err);

/* Helpers shared with the tests. */
int validate_email(const char *s);
int validate_e164(const char *s);
int validate_http_url(const char *s);
/* Number of Unicode code points in valid UTF-8. */
size_t validate_utf8_length(const char *s);

#endif
