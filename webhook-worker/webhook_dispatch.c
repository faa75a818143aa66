#include "webhook_dispatch.h"

#include <assert.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/result.h"
#include "model/webhook_endpoint.h"

/* A UUIDv7 made in SQL (PostgreSQL 15 has no uuidv7()): a random v4 with its
 * first 48 bits replaced by the Unix time in ms and the version nibble set to
 * 7 (bits 52 and 53 turn 0100 into 0111), so delivery ids sort by creation
 * like every other id of the project. */
#define WEBHOOK_DISPATCH_UUIDV7_SQL                                                                \
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing"                          \
    " substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)"          \
    " FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"

static char *webhook_dispatch_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

int webhook_dispatch_fanout(struct db *db, const json_t *event_ids, long *inserted, long *unknown)
{
    /* The organization, environment and type come from the event's outbox row
     * (written by our own transaction), not from the Kafka record. Endpoints
     * created after the event do not receive it, as with Stripe, so a replay
     * of old records does not flood a new endpoint. DISTINCT: a batch may hold
     * the same event twice (a re-published outbox row). The events are read
     * by their unique id, one lookup per id (LATERAL, OFFSET 0): for "id = one
     * value" the unique index costs less than a scan on any table size, even
     * the empty one, statistics or not. "id = ANY (ARRAY(...))" let a plan
     * made on a new database (the outbox empty, no ANALYZE yet) scan the whole
     * outbox per batch for as long as the connection kept it: 12 ms a batch
     * under create load at 40,000 rows, PostgreSQL time taken from creates. */
    static const char sql[] =
        "WITH ids AS (SELECT DISTINCT value::uuid AS id FROM jsonb_array_elements_text($1::jsonb)),"
        " ev AS (SELECT o.* FROM ids CROSS JOIN LATERAL"
        "   (SELECT * FROM outbox x WHERE x.id = ids.id OFFSET 0) o),"
        " ins AS (INSERT INTO webhook_deliveries (id, event_id, endpoint_id, organization_id,"
        "                                        environment, event_type, status, next_attempt_at)"
        "   SELECT " WEBHOOK_DISPATCH_UUIDV7_SQL ", ev.id, e.id, ev.organization_id,"
        "          ev.environment, ev.type, 'pending', now()"
        "   FROM ev JOIN webhook_endpoints e"
        "     ON e.organization_id = ev.organization_id AND e.environment = ev.environment"
        "   WHERE NOT e.disabled AND e.deleted_at IS NULL AND e.created_at <= ev.created_at"
        "     AND (ev.type = ANY (e.enabled_events) OR '*' = ANY (e.enabled_events))"
        "   ORDER BY ev.seq, e.id"
        "   ON CONFLICT (event_id, endpoint_id) DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ids) - (SELECT count(*) FROM "
        "ev)";
    *inserted = 0;
    *unknown = 0;
    if (json_array_size(event_ids) == 0)
        return C_OK;
    char *text = webhook_dispatch_dump(event_ids);
    if (text == NULL)
        return C_ERR;
    const char *params[1] = {text};
    PGresult *r = db_exec(db, sql, 1, params);
    free(text);
    if (r == NULL)
        return C_ERR;
    *inserted = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    *unknown = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return C_OK;
}

void webhook_dispatch_job_clear(struct webhook_dispatch_job *job)
{
    free(job->url);
    if (job->secret != NULL)
        OPENSSL_cleanse(job->secret, strlen(job->secret));
    free(job->secret);
    if (job->previous_secret != NULL)
        OPENSSL_cleanse(job->previous_secret, strlen(job->previous_secret));
    free(job->previous_secret);
    free(job->payload);
    memset(job, 0, sizeof(*job));
}

void webhook_dispatch_jobs_free(struct webhook_dispatch_job *jobs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        webhook_dispatch_job_clear(&jobs[i]);
    free(jobs);
}

static char *webhook_dispatch_copy(const PGresult *r, int row, int col, size_t *len)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t n = (size_t)PQgetlength(r, row, col);
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, PQgetvalue(r, row, col), n + 1);
    if (len != NULL)
        *len = n;
    return s;
}

static const struct secretbox_keyring *webhook_dispatch_keyring;

void webhook_dispatch_set_keyring(const struct secretbox_keyring *kr)
{
    webhook_dispatch_keyring = kr;
}

/* The secret of column (plain text at plain_col, else sealed at sealed_col
 * with its key id next to it). A sealed secret that does not open leaves
 * *out NULL: that delivery fails its attempt (transfer.c) and says why in
 * the log, the others of the claim go on. C_ERR: out of memory only. */
static int webhook_dispatch_secret(const PGresult *r, int row, int plain_col, int sealed_col,
                                   const char *endpoint_id, const char *column, char **out)
{
    *out = NULL;
    if (!PQgetisnull(r, row, plain_col)) {
        *out = webhook_dispatch_copy(r, row, plain_col, NULL);
        return *out != NULL ? C_OK : C_ERR;
    }
    if (PQnfields(r) <= sealed_col + 1 || PQgetisnull(r, row, sealed_col) ||
        PQgetisnull(r, row, sealed_col + 1))
        return C_OK;
    struct error err = ERROR_INIT;
    if (webhook_dispatch_keyring == NULL ||
        webhook_endpoint_secret_open(webhook_dispatch_keyring, endpoint_id, column,
                                     PQgetvalue(r, row, sealed_col + 1),
                                     PQgetvalue(r, row, sealed_col), out, &err) != C_OK) {
        log_fields(LOG_ERROR,
                   json_pack("{ss ss ss}", "endpoint_id", endpoint_id, "column", column, "key_id",
                             PQgetvalue(r, row, sealed_col + 1)),
                   "cannot open a webhook signing secret: %s",
                   webhook_dispatch_keyring == NULL ? "no CAISSE_SECRETS_KEY" : err.message);
        *out = NULL;
    }
    return C_OK;
}

static int webhook_dispatch_fill_job(const PGresult *r, int row, struct webhook_dispatch_job *j)
{
    snprintf(j->delivery_id, sizeof(j->delivery_id), "%s", PQgetvalue(r, row, 0));
    snprintf(j->event_id, sizeof(j->event_id), "%s", PQgetvalue(r, row, 1));
    snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s", PQgetvalue(r, row, 2));
    j->attempt_count = (int)strtol(PQgetvalue(r, row, 3), NULL, 10);
    j->url = webhook_dispatch_copy(r, row, 4, NULL);
    j->endpoint_disabled = PQgetvalue(r, row, 7)[0] == 't';
    j->endpoint_deleted = PQgetvalue(r, row, 8)[0] == 't';
    j->payload = webhook_dispatch_copy(r, row, 9, &j->payload_len);
    snprintf(j->organization_id, sizeof(j->organization_id), "%s", PQgetvalue(r, row, 10));
    if (j->url == NULL || (j->payload == NULL && !PQgetisnull(r, row, 9)))
        return C_ERR;
    /* Columns 11-14: the sealed secret and its key id, the sealed previous
     * one (NULL past its rotation window) and its key id. */
    if (webhook_dispatch_secret(r, row, 5, 11, j->endpoint_id, WEBHOOK_ENDPOINT_SECRET,
                                &j->secret) != C_OK ||
        webhook_dispatch_secret(r, row, 6, 13, j->endpoint_id, WEBHOOK_ENDPOINT_PREVIOUS_SECRET,
                                &j->previous_secret) != C_OK)
        return C_ERR;
    return C_OK;
}

int webhook_dispatch_jobs_from_result(const PGresult *r, struct webhook_dispatch_job **jobs,
                                      size_t *count)
{
    size_t n = (size_t)PQntuples(r);
    struct webhook_dispatch_job *arr = NULL;
    if (n > 0) {
        arr = calloc(n, sizeof(*arr));
        if (arr == NULL)
            return C_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        if (webhook_dispatch_fill_job(r, (int)i, &arr[i]) != C_OK) {
            webhook_dispatch_jobs_free(arr, n);
            return C_ERR;
        }
    }
    *jobs = arr;
    *count = n;
    return C_OK;
}

int webhook_dispatch_claim(struct db *db, const struct webhook_dispatch_claim *c,
                           struct webhook_dispatch_job **jobs, size_t *count)
{
    /* eps: the endpoints with pending deliveries, one index probe each
     * (a loose scan of webhook_deliveries_endpoint_due), however many rows
     * each has. cand: each endpoint's oldest due deliveries nobody holds, up
     * to the endpoint's free room in this worker, skipping rows another
     * worker is claiming right now: a bounded range of the same index per
     * endpoint. ranked/picked: at most the organization's free room of each
     * organization, the organizations in turn (every one's first, then every
     * one's second...) up to the limit; the rest stay locked only until this
     * statement ends, unleased. No scan depends on planner statistics: each
     * is an ordered index range under a LIMIT. */
    static const char sql[] =
        "WITH RECURSIVE eps AS ("
        "   (SELECT endpoint_id AS ep FROM webhook_deliveries WHERE status = 'pending'"
        "     ORDER BY endpoint_id LIMIT 1)"
        "   UNION ALL"
        "   SELECT (SELECT endpoint_id FROM webhook_deliveries"
        "            WHERE status = 'pending' AND endpoint_id > eps.ep"
        "            ORDER BY endpoint_id LIMIT 1)"
        "   FROM eps WHERE eps.ep IS NOT NULL),"
        " cand AS MATERIALIZED ("
        "   SELECT c.* FROM eps CROSS JOIN LATERAL ("
        "     SELECT id, endpoint_id, event_id, organization_id, next_attempt_at"
        "     FROM webhook_deliveries"
        "     WHERE endpoint_id = eps.ep AND status = 'pending' AND next_attempt_at <= now()"
        "       AND (lease_until IS NULL OR lease_until < now())"
        "     ORDER BY next_attempt_at"
        "     LIMIT greatest($4::int - coalesce(($5::jsonb ->> eps.ep::text)::int, 0), 0)"
        "     FOR UPDATE SKIP LOCKED) c"
        "   WHERE eps.ep IS NOT NULL),"
        " ranked AS (SELECT id, endpoint_id, event_id, organization_id, next_attempt_at,"
        "   row_number() OVER (PARTITION BY organization_id ORDER BY next_attempt_at, id) AS rn"
        "   FROM cand),"
        " picked AS (SELECT id, endpoint_id, event_id FROM ranked"
        "   WHERE rn <= $7::int - coalesce(($6::jsonb ->> organization_id::text)::int, 0)"
        "   ORDER BY rn, next_attempt_at, id LIMIT $1::int)"
        " UPDATE webhook_deliveries d"
        " SET lease_until = now() + $2::bigint * interval '1 millisecond', leased_by = $3,"
        "     updated_at = now()"
        " FROM picked r JOIN webhook_endpoints e ON e.id = r.endpoint_id"
        "      LEFT JOIN LATERAL (SELECT payload FROM outbox WHERE id = r.event_id) o ON true"
        " WHERE d.id = r.id"
        " RETURNING d.id, d.event_id, d.endpoint_id, d.attempt_count, e.url, e.secret,"
        "   CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END,"
        "   e.disabled, e.deleted_at IS NOT NULL, o.payload, d.organization_id,"
        "   encode(e.secret_ciphertext, 'hex'), e.secret_key_id,"
        "   CASE WHEN e.previous_secret_expires_at > now()"
        "     THEN encode(e.previous_secret_ciphertext, 'hex') END,"
        "   e.previous_secret_key_id";
    char limit[24], lease[24], cap[24], tenant_cap[24];
    snprintf(limit, sizeof(limit), "%ld", c->limit);
    snprintf(lease, sizeof(lease), "%ld", c->lease_ms);
    snprintf(cap, sizeof(cap), "%ld", c->endpoint_cap);
    snprintf(tenant_cap, sizeof(tenant_cap), "%ld", c->tenant_cap);
    char *in_flight = webhook_dispatch_dump(c->in_flight);
    char *tenant_in_flight = webhook_dispatch_dump(c->tenant_in_flight);
    if (in_flight == NULL || tenant_in_flight == NULL) {
        free(in_flight);
        free(tenant_in_flight);
        return C_ERR;
    }
    const char *params[7] = {limit, lease, c->worker, cap, in_flight, tenant_in_flight, tenant_cap};
    PGresult *r = db_exec(db, sql, 7, params);
    free(in_flight);
    free(tenant_in_flight);
    if (r == NULL)
        return C_ERR;
    /* On an error the leases taken stay until they end; the rows are retaken then. */
    int rc = webhook_dispatch_jobs_from_result(r, jobs, count);
    PQclear(r);
    return rc;
}

static const char *webhook_dispatch_status_name(enum webhook_dispatch_verdict v)
{
    switch (v) {
    case WEBHOOK_DISPATCH_SUCCEEDED:
        return "succeeded";
    case WEBHOOK_DISPATCH_RETRY:
        return "pending";
    case WEBHOOK_DISPATCH_FAILED:
    case WEBHOOK_DISPATCH_GONE:
        return "failed";
    }
    return "failed";
}

json_t *webhook_dispatch_outcome_rows(const struct webhook_dispatch_outcome *o, size_t n)
{
    json_t *rows = json_array();
    int rc = rows != NULL ? C_OK : C_ERR;
    for (size_t i = 0; rc == C_OK && i < n; i++) {
        json_t *row = json_pack("{sI ss si ss sI}", "i", (json_int_t)i, "delivery_id",
                                o[i].delivery_id, "duration_ms", (int)o[i].duration_ms, "status",
                                webhook_dispatch_status_name(o[i].verdict), "retry_ms",
                                (json_int_t)o[i].retry_in_ms);
        if (row != NULL) {
            json_object_set_new(row, "status_code",
                                o[i].status_code > 0 ? json_integer(o[i].status_code)
                                                     : json_null());
            json_object_set_new(row, "body",
                                o[i].body != NULL ? json_string(o[i].body) : json_null());
            json_object_set_new(row, "error",
                                o[i].error != NULL ? json_string(o[i].error) : json_null());
        }
        rc = row != NULL && json_array_append_new(rows, row) == 0 ? C_OK : C_ERR;
    }
    if (rc != C_OK) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

void webhook_dispatch_lease_lost_from_result(const PGresult *r, size_t n, bool *lease_lost)
{
    for (size_t i = 0; i < n; i++)
        lease_lost[i] = true;
    for (int k = 0; k < PQntuples(r); k++) {
        char *end;
        long i = strtol(PQgetvalue(r, k, 0), &end, 10);
        assert(*end == '\0' && i >= 0 && (size_t)i < n); /* our own indexes, echoed */
        if (*end == '\0' && i >= 0 && (size_t)i < n)
            lease_lost[i] = false;
    }
}

/* The attempt rows and the deliveries' new states of the whole set, in one
 * statement; the deliveries whose lease was lost are those not updated. Each
 * row carries its index in o, and the statement returns the indexes it
 * updated: matching returned ids against o instead was quadratic, and a
 * backlog recorded at once (20 000 outcomes) took seconds of CPU. The ANY
 * gives the planner the rows' primary keys: joined only with o (estimated
 * at 100 rows whatever its size), it hashed every pending delivery of the
 * table for each batch. */
static int webhook_dispatch_record_deliveries(struct db *db,
                                              const struct webhook_dispatch_outcome *o, size_t n,
                                              bool *lease_lost)
{
    static const char sql[] =
        "WITH o AS ("
        "  SELECT * FROM json_to_recordset($1::json) AS x(i int, delivery_id uuid, duration_ms int,"
        "    status_code int, body text, error text, status text, retry_ms bigint)),"
        " att AS ("
        "  INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms, status_code,"
        "    response_body, error)"
        "  SELECT delivery_id, now() - duration_ms * interval '1 millisecond', duration_ms,"
        "    status_code, body, error FROM o),"
        " upd AS ("
        "  UPDATE webhook_deliveries d SET status = o.status, attempt_count = d.attempt_count + 1,"
        "    next_attempt_at = CASE WHEN o.status = 'pending'"
        "      THEN now() + o.retry_ms * interval '1 millisecond' END,"
        "    last_status_code = o.status_code, last_error = o.error, lease_until = NULL,"
        "    leased_by = NULL, updated_at = now()"
        "  FROM o WHERE d.id = o.delivery_id AND d.leased_by = $2 AND d.status = 'pending'"
        "    AND d.id = ANY (ARRAY(SELECT delivery_id FROM o))"
        "  RETURNING o.i)"
        " SELECT i FROM upd";
    json_t *rows = webhook_dispatch_outcome_rows(o, n);
    char *text = rows != NULL ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(rows);
    if (text == NULL)
        return C_ERR;
    const char *params[2] = {text, o[0].worker};
    PGresult *r = db_exec(db, sql, 2, params);
    free(text);
    if (r == NULL)
        return C_ERR;
    webhook_dispatch_lease_lost_from_result(r, n, lease_lost);
    PQclear(r);
    return C_OK;
}

json_t *webhook_dispatch_succeeded_endpoints(const struct webhook_dispatch_outcome *o, size_t n)
{
    json_t *ids = json_array();
    for (size_t i = 0; ids != NULL && i < n; i++) {
        if (o[i].verdict == WEBHOOK_DISPATCH_SUCCEEDED &&
            json_array_append_new(ids, json_string(o[i].endpoint_id)) != 0) {
            json_decref(ids);
            ids = NULL;
        }
    }
    return ids;
}

/* The health of the endpoints that answered 2xx: one guarded statement, so
 * the usual success writes nothing to a busy endpoint row. */
static int webhook_dispatch_record_healthy(struct db *db, const struct webhook_dispatch_outcome *o,
                                           size_t n)
{
    json_t *ids = webhook_dispatch_succeeded_endpoints(o, n);
    if (ids == NULL)
        return C_ERR;
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return C_OK;
    }
    char *text = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    if (text == NULL)
        return C_ERR;
    const char *params[1] = {text};
    int rc = db_exec_command(db,
                             "UPDATE webhook_endpoints SET failing_since = NULL, updated_at = now()"
                             " WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)"
                             " AND failing_since IS NOT NULL",
                             1, params);
    free(text);
    return rc;
}

/* The health of the endpoint of a failed attempt (rare: one at a time). */
static int webhook_dispatch_record_failing(struct db *db, const struct webhook_dispatch_outcome *o,
                                           char **disabled_reason)
{
    char disable_after[24];
    snprintf(disable_after, sizeof(disable_after), "%ld", o->disable_after_s);
    const char *ep[2] = {o->endpoint_id, disable_after};
    if (db_exec_command(db,
                        "UPDATE webhook_endpoints SET failing_since = now(), updated_at = now()"
                        " WHERE id = $1 AND failing_since IS NULL",
                        1, ep) != C_OK)
        return C_ERR;
    PGresult *r;
    if (o->verdict == WEBHOOK_DISPATCH_GONE) {
        r = db_exec(db,
                    "UPDATE webhook_endpoints SET disabled = true,"
                    " disabled_reason = 'endpoint answered 410 Gone', updated_at = now()"
                    " WHERE id = $1 AND NOT disabled RETURNING disabled_reason",
                    1, ep);
    } else {
        r = db_exec(db,
                    "UPDATE webhook_endpoints SET disabled = true, updated_at = now(),"
                    " disabled_reason = 'failing for ' || CASE"
                    "   WHEN now() - failing_since >= interval '1 day'"
                    "   THEN extract(day FROM now() - failing_since)::int || ' days'"
                    "   ELSE floor(extract(epoch FROM now() - failing_since))::bigint"
                    "        || ' seconds' END"
                    " WHERE id = $1 AND NOT disabled"
                    "   AND failing_since < now() - $2::bigint * interval '1 second'"
                    " RETURNING disabled_reason",
                    2, ep);
    }
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 1) {
        *disabled_reason = strdup(PQgetvalue(r, 0, 0));
        if (*disabled_reason == NULL) {
            PQclear(r);
            return C_ERR;
        }
    }
    PQclear(r);
    return C_OK;
}

int webhook_dispatch_record(struct db *db, const struct webhook_dispatch_outcome *o, size_t n,
                            bool *lease_lost, char **disabled_reason)
{
    for (size_t i = 0; i < n; i++) {
        lease_lost[i] = false;
        disabled_reason[i] = NULL;
    }
    if (n == 0)
        return C_OK;
    int rc = db_begin(db);
    if (rc == C_OK)
        rc = webhook_dispatch_record_deliveries(db, o, n, lease_lost);
    if (rc == C_OK)
        rc = webhook_dispatch_record_healthy(db, o, n);
    /* The endpoint's health is what the attempt observed, lease or not. */
    for (size_t i = 0; rc == C_OK && i < n; i++) {
        if (o[i].verdict != WEBHOOK_DISPATCH_SUCCEEDED)
            rc = webhook_dispatch_record_failing(db, &o[i], &disabled_reason[i]);
    }
    if (rc == C_OK)
        rc = db_commit(db);
    if (rc != C_OK) {
        db_rollback(db);
        for (size_t i = 0; i < n; i++) {
            free(disabled_reason[i]);
            disabled_reason[i] = NULL;
        }
    }
    return rc;
}

int webhook_dispatch_abandon(struct db *db, const char *delivery_id, const char *worker,
                             const char *reason)
{
    const char *params[3] = {delivery_id, worker, reason};
    return db_exec_command(db,
                           "UPDATE webhook_deliveries SET status = 'failed', last_error = $3,"
                           " next_attempt_at = NULL, lease_until = NULL, leased_by = NULL,"
                           " updated_at = now()"
                           " WHERE id = $1 AND leased_by = $2 AND status = 'pending'",
                           3, params);
}

int webhook_dispatch_release(struct db *db, const json_t *delivery_ids, const char *worker)
{
    if (json_array_size(delivery_ids) == 0)
        return C_OK;
    char *text = webhook_dispatch_dump(delivery_ids);
    if (text == NULL)
        return C_ERR;
    const char *params[2] = {text, worker};
    int rc = db_exec_command(
        db,
        "UPDATE webhook_deliveries SET lease_until = NULL, leased_by = NULL, updated_at = now()"
        " WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))"
        "   AND leased_by = $2 AND status = 'pending'",
        2, params);
    free(text);
    return rc;
}

int webhook_dispatch_retry_queue_depth(struct db *db, long long *depth)
{
    PGresult *r = db_exec(db,
                          "SELECT count(*) FROM webhook_deliveries"
                          " WHERE status = 'pending' AND attempt_count > 0",
                          0, NULL);
    if (r == NULL)
        return C_ERR;
    *depth = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}
