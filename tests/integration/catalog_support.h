/* What the catalog's tests share (products, prices, customers, coupons,
 * subscriptions and the sessions made from them): a tenant of the test's own
 * made with caisse-admin, so that listings see only what the test made, calls
 * with a JSON body, creates that must answer 201, and the error assertions. */
#ifndef TESTS_INTEGRATION_CATALOG_SUPPORT_H
#define TESTS_INTEGRATION_CATALOG_SUPPORT_H

#include <jansson.h>

#include "core/uuid.h"
#include "support.h"

/* A fresh organization with a key of each environment. */
struct ct_tenant {
    char org[64];
    char key[128];  /* test environment */
    char live[128]; /* live environment */
};
/* org_name names the organization after the tests that use it. */
void ct_tenant_new(struct ct_tenant *t, const char *org_name);

/* method path with body (NULL: none, and no Content-Type) as JSON. */
struct api_response ct_call(const char *method, const char *path, const char *key,
                            const char *body);
/* POST path with body and the Idempotency-Key idem. */
struct api_response ct_call_keyed(const char *path, const char *key, const char *idem,
                                  const char *body);

/* The string member name of o, NULL when absent or not a string. */
const char *ct_str(const json_t *o, const char *name);

/* POST path with body, asserts 201; the new object (a new reference). */
json_t *ct_create(const char *path, const char *key, const char *body);
/* The same; the new object's id member into id. */
void ct_create_id(const char *path, const char *key, const char *body, const char *member,
                  char id[UUID_STR_LEN]);
/* POST /checkout-sessions with body, asserts 201; the session (a new reference). */
json_t *ct_session_create(const char *key, const char *body);

/* Asserts that method path with body answers the error of api.md. */
void ct_expect_error(const char *key, const char *method, const char *path, const char *body,
                     long status, const char *code, const char *param, const char *message);
/* The same for a 400 validation_error. */
void ct_expect_400(const char *key, const char *method, const char *path, const char *body,
                   const char *param, const char *message);

/* POST /internal/checkout-sessions/<id>/complete with body (JSON text); its answer. */
struct api_response ct_session_complete(const char *session_id, const char *body);

/* Asserts the CloudEvents attributes of a catalog event of org in the test
 * environment, from source ("/caisse/products"), about object id (its subject
 * and Kafka key), carrying data (the REST object). */
void ct_assert_event(const json_t *ev, const char *source, const char *type, const char *id,
                     const char *org, const json_t *data, const char *time);

/* A Kafka header of an event of test_kafka_events_for, NULL when absent. */
const char *ct_event_header(const json_t *ev, const char *name);

/* A faults test's .fini: starts the stack's session-worker again if the test
 * stopped it and failed before starting it. */
void ct_restore_session_worker(void);

#endif
