/* The webhook worker's statements without a database: what a claim's result
 * becomes (columns, NULLs, the previous secret of a rotation, an event no
 * longer stored), the rows the record statement reads, which leases were
 * lost from the indexes it returns, and which endpoints answered 2xx.
 * Results are built in memory with libpq's own PQmakeEmptyPGresult. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/result.h"
#include "model/webhook_endpoint.h"
#include "../../../webhook-worker/webhook_dispatch.h"
#include "../leak_check.h"

TestSuite(webhook_dispatch, .fini = unit_leak_check);

#define DELIVERY "0190a0a0-0000-7000-8000-000000000001"
#define EVENT "0190a0a0-0000-7000-8000-000000000002"
#define ENDPOINT "0190a0a0-0000-7000-8000-000000000003"

/* The claim's RETURNING columns before the sealed secrets', and all of them. */
#define CLAIM_COLUMNS 11
#define CLAIM_COLUMNS_ALL (CLAIM_COLUMNS + 4)
#define ORG "0190a0a0-0000-7000-8000-0000000000f1"

static PGresult *claim_result(void)
{
    static const char *const names[] = {
        "id",      "event_id",        "endpoint_id",     "attempt_count",
        "url",     "secret",          "previous",        "disabled",
        "deleted", "payload",         "organization_id", "sealed",
        "key_id",  "previous_sealed", "previous_key_id"};
    PGresAttDesc attrs[CLAIM_COLUMNS_ALL];
    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < CLAIM_COLUMNS_ALL; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].typid = 25; /* text: the decoder reads text whatever the type */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    cr_assert_not_null(r);
    cr_assert(PQsetResultAttrs(r, CLAIM_COLUMNS_ALL, attrs));
    return r;
}

/* Sets row's columns from values (NULL: SQL NULL); the sealed columns
 * (11-14) NULL, as for a row whose secrets are still in plain text. */
static void set_row(PGresult *r, int row, const char *const values[CLAIM_COLUMNS])
{
    for (int col = 0; col < CLAIM_COLUMNS_ALL; col++) {
        char *v = col < CLAIM_COLUMNS ? (char *)values[col] : NULL;
        cr_assert(PQsetvalue(r, row, col, v, v != NULL ? (int)strlen(v) : -1));
    }
}

static void set_cell(PGresult *r, int row, int col, const char *v)
{
    cr_assert(PQsetvalue(r, row, col, (char *)v, v != NULL ? (int)strlen(v) : -1));
}

Test(webhook_dispatch, a_claimed_row_becomes_a_job_with_every_column_in_its_place)
{
    PGresult *r = claim_result();
    const char *row0[CLAIM_COLUMNS] = {DELIVERY,  EVENT, ENDPOINT, "3", "https://example.com/hook",
                                       "whsec_a", NULL,  "f",      "f", "{\"id\":\"" EVENT "\"}",
                                       ORG};
    const char *row1[CLAIM_COLUMNS] = {"0190a0a0-0000-7000-8000-000000000011",
                                       EVENT,
                                       ENDPOINT,
                                       "0",
                                       "https://example.com/h2",
                                       "whsec_new",
                                       "whsec_old",
                                       "t",
                                       "t",
                                       NULL,
                                       ORG};
    set_row(r, 0, row0);
    set_row(r, 1, row1);
    struct webhook_dispatch_job *jobs = NULL;
    size_t n = 0;
    cr_assert_eq(webhook_dispatch_jobs_from_result(r, &jobs, &n), C_OK);
    PQclear(r);
    cr_assert_eq(n, 2);

    cr_assert_str_eq(jobs[0].delivery_id, DELIVERY);
    cr_assert_str_eq(jobs[0].event_id, EVENT);
    cr_assert_str_eq(jobs[0].endpoint_id, ENDPOINT);
    cr_assert_str_eq(jobs[0].organization_id, ORG);
    cr_assert_eq(jobs[0].attempt_count, 3);
    cr_assert_str_eq(jobs[0].url, "https://example.com/hook");
    cr_assert_str_eq(jobs[0].secret, "whsec_a");
    cr_assert_null(jobs[0].previous_secret, "no rotation: only one secret signs");
    cr_assert_not(jobs[0].endpoint_disabled);
    cr_assert_not(jobs[0].endpoint_deleted);
    cr_assert_str_eq(jobs[0].payload, "{\"id\":\"" EVENT "\"}");
    cr_assert_eq(jobs[0].payload_len, strlen(jobs[0].payload));

    cr_assert_str_eq(jobs[1].previous_secret, "whsec_old");
    cr_assert(jobs[1].endpoint_disabled);
    cr_assert(jobs[1].endpoint_deleted);
    cr_assert_null(jobs[1].payload, "the event is no longer stored");
    cr_assert_eq(jobs[1].payload_len, 0);
    webhook_dispatch_jobs_free(jobs, n);
}

Test(webhook_dispatch, an_empty_claim_is_no_job_and_no_allocation)
{
    PGresult *r = claim_result();
    struct webhook_dispatch_job *jobs = (struct webhook_dispatch_job *)1;
    size_t n = 99;
    cr_assert_eq(webhook_dispatch_jobs_from_result(r, &jobs, &n), C_OK);
    PQclear(r);
    cr_assert_eq(n, 0);
    cr_assert_null(jobs);
    webhook_dispatch_jobs_free(jobs, n);
}

Test(webhook_dispatch, a_row_without_a_url_fails_the_whole_claim_and_leaks_nothing)
{
    PGresult *r = claim_result();
    const char *good[CLAIM_COLUMNS] = {DELIVERY,  EVENT, ENDPOINT, "0", "https://example.com/hook",
                                       "whsec_a", NULL,  "f",      "f", "{}",
                                       ORG};
    const char *bad[CLAIM_COLUMNS] = {DELIVERY, EVENT, ENDPOINT, "0",  NULL, "whsec_a",
                                      NULL,     "f",   "f",      "{}", ORG};
    set_row(r, 0, good);
    set_row(r, 1, bad);
    struct webhook_dispatch_job *jobs = NULL;
    size_t n = 0;
    cr_assert_eq(webhook_dispatch_jobs_from_result(r, &jobs, &n), C_ERR);
    cr_assert_null(jobs, "the caller's state is unchanged");
    cr_assert_eq(n, 0);
    PQclear(r);
}

Test(webhook_dispatch, a_job_cleared_is_empty_and_can_be_cleared_again)
{
    struct webhook_dispatch_job j;
    memset(&j, 0, sizeof(j));
    j.url = strdup("https://example.com/");
    j.secret = strdup("whsec_a");
    j.payload = strdup("{}");
    j.payload_len = 2;
    snprintf(j.delivery_id, sizeof(j.delivery_id), "%s", DELIVERY);
    webhook_dispatch_job_clear(&j);
    cr_assert_null(j.url);
    cr_assert_null(j.payload);
    cr_assert_eq(j.delivery_id[0], '\0');
    webhook_dispatch_job_clear(&j);
}

static const json_t *row_of(const json_t *rows, size_t i)
{
    const json_t *row = json_array_get(rows, i);
    cr_assert(json_is_object(row), "row %zu", i);
    return row;
}

Test(webhook_dispatch, each_outcome_is_one_row_with_its_index_and_its_deliverys_new_status)
{
    struct webhook_dispatch_outcome o[4] = {
        {.delivery_id = "d0",
         .endpoint_id = "e0",
         .duration_ms = 12,
         .status_code = 200,
         .body = "ok",
         .verdict = WEBHOOK_DISPATCH_SUCCEEDED},
        {.delivery_id = "d1",
         .endpoint_id = "e1",
         .duration_ms = 2001,
         .status_code = 0,
         .error = "Operation timed out",
         .verdict = WEBHOOK_DISPATCH_RETRY,
         .retry_in_ms = 5000},
        {.delivery_id = "d2",
         .endpoint_id = "e2",
         .status_code = 500,
         .verdict = WEBHOOK_DISPATCH_FAILED},
        {.delivery_id = "d3",
         .endpoint_id = "e3",
         .status_code = 410,
         .verdict = WEBHOOK_DISPATCH_GONE},
    };
    json_t *rows = webhook_dispatch_outcome_rows(o, 4);
    cr_assert_not_null(rows);
    cr_assert_eq(json_array_size(rows), 4);
    static const char *const status[] = {"succeeded", "pending", "failed", "failed"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *row = row_of(rows, i);
        cr_assert_eq(json_integer_value(json_object_get(row, "i")), (json_int_t)i);
        cr_assert_str_eq(json_string_value(json_object_get(row, "delivery_id")), o[i].delivery_id);
        cr_assert_str_eq(json_string_value(json_object_get(row, "status")), status[i]);
        cr_assert_eq(json_integer_value(json_object_get(row, "duration_ms")), o[i].duration_ms);
    }
    const json_t *ok = row_of(rows, 0);
    cr_assert_eq(json_integer_value(json_object_get(ok, "status_code")), 200);
    cr_assert_str_eq(json_string_value(json_object_get(ok, "body")), "ok");
    cr_assert(json_is_null(json_object_get(ok, "error")));
    const json_t *retry = row_of(rows, 1);
    cr_assert(json_is_null(json_object_get(retry, "status_code")), "no answer is a NULL code");
    cr_assert(json_is_null(json_object_get(retry, "body")));
    cr_assert_str_eq(json_string_value(json_object_get(retry, "error")), "Operation timed out");
    cr_assert_eq(json_integer_value(json_object_get(retry, "retry_ms")), 5000);
    json_decref(rows);

    rows = webhook_dispatch_outcome_rows(o, 0);
    cr_assert_eq(json_array_size(rows), 0);
    json_decref(rows);
}

/* A result of the record statement returning the given indexes. */
static PGresult *updated_result(const char *const *indexes, int n)
{
    PGresAttDesc attr;
    memset(&attr, 0, sizeof(attr));
    attr.name = (char *)"i";
    attr.typid = 23;
    attr.typlen = 4;
    attr.atttypmod = -1;
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    cr_assert_not_null(r);
    cr_assert(PQsetResultAttrs(r, 1, &attr));
    for (int k = 0; k < n; k++)
        cr_assert(PQsetvalue(r, k, 0, (char *)indexes[k], (int)strlen(indexes[k])));
    return r;
}

Test(webhook_dispatch, a_delivery_the_record_did_not_update_had_lost_its_lease)
{
    /* Returned in any order: the statement's RETURNING has none. */
    const char *updated[] = {"3", "0", "1"};
    PGresult *r = updated_result(updated, 3);
    bool lease_lost[5];
    memset(lease_lost, 0, sizeof(lease_lost));
    webhook_dispatch_lease_lost_from_result(r, 5, lease_lost);
    PQclear(r);
    cr_assert_not(lease_lost[0]);
    cr_assert_not(lease_lost[1]);
    cr_assert(lease_lost[2]);
    cr_assert_not(lease_lost[3]);
    cr_assert(lease_lost[4]);

    r = updated_result(NULL, 0);
    bool all[2] = {false, false};
    webhook_dispatch_lease_lost_from_result(r, 2, all);
    PQclear(r);
    cr_assert(all[0] && all[1], "nothing updated: every lease was lost");
}

Test(webhook_dispatch, only_the_endpoints_that_answered_2xx_are_marked_healthy)
{
    struct webhook_dispatch_outcome o[4] = {
        {.endpoint_id = "e0", .verdict = WEBHOOK_DISPATCH_SUCCEEDED},
        {.endpoint_id = "e1", .verdict = WEBHOOK_DISPATCH_RETRY},
        {.endpoint_id = "e2", .verdict = WEBHOOK_DISPATCH_GONE},
        {.endpoint_id = "e0", .verdict = WEBHOOK_DISPATCH_SUCCEEDED},
    };
    json_t *ids = webhook_dispatch_succeeded_endpoints(o, 4);
    cr_assert_not_null(ids);
    cr_assert_eq(json_array_size(ids), 2);
    cr_assert_str_eq(json_string_value(json_array_get(ids, 0)), "e0");
    cr_assert_str_eq(json_string_value(json_array_get(ids, 1)), "e0");
    json_decref(ids);

    ids = webhook_dispatch_succeeded_endpoints(o + 1, 2);
    cr_assert_not_null(ids, "none succeeded is an empty array, not a failure");
    cr_assert_eq(json_array_size(ids), 0);
    json_decref(ids);
}

#define SEAL_KEY "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

Test(webhook_dispatch, sealed_secrets_are_opened_and_one_that_does_not_open_fails_only_its_job)
{
    struct secretbox_keyring kr;
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_keyring_init(&kr, SEAL_KEY, NULL, &err), C_OK);
    char *cur = NULL, *prev = NULL;
    cr_assert_eq(webhook_endpoint_secret_seal(&kr, ENDPOINT, WEBHOOK_ENDPOINT_SECRET, "whsec_new",
                                              &cur, &err),
                 C_OK);
    cr_assert_eq(webhook_endpoint_secret_seal(&kr, ENDPOINT, WEBHOOK_ENDPOINT_PREVIOUS_SECRET,
                                              "whsec_old", &prev, &err),
                 C_OK);
    webhook_dispatch_set_keyring(&kr);
    PGresult *r = claim_result();
    const char *row[CLAIM_COLUMNS] = {DELIVERY, EVENT, ENDPOINT, "0", "https://example.com/hook",
                                      NULL,     NULL,  "f",      "f", "{}",
                                      ORG};
    set_row(r, 0, row);
    set_cell(r, 0, 11, cur);
    set_cell(r, 0, 12, "k1");
    set_cell(r, 0, 13, prev);
    set_cell(r, 0, 14, "k1");
    /* Row 1: the current secret sealed for the previous column (swapped). */
    set_row(r, 1, row);
    set_cell(r, 1, 11, prev);
    set_cell(r, 1, 12, "k1");
    struct webhook_dispatch_job *jobs = NULL;
    size_t n = 0;
    cr_assert_eq(webhook_dispatch_jobs_from_result(r, &jobs, &n), C_OK);
    PQclear(r);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(jobs[0].secret, "whsec_new");
    cr_assert_str_eq(jobs[0].previous_secret, "whsec_old");
    cr_assert_null(jobs[1].secret, "a secret moved to another column does not open");
    cr_assert_null(jobs[1].previous_secret);
    webhook_dispatch_jobs_free(jobs, n);
    webhook_dispatch_set_keyring(NULL);
    free(cur);
    free(prev);
    secretbox_keyring_clear(&kr);
}
