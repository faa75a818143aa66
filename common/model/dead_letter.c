#include "dead_letter.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/metrics.h"
#include "core/result.h"
#include "core/hex.h"

static struct metrics_family *dead_letter_total;
static pthread_once_t dead_letter_metrics_once = PTHREAD_ONCE_INIT;

static void dead_letter_metrics_init(void)
{
    static const char *const labels[] = {"consumer", "reason", NULL};
    dead_letter_total =
        metrics_counter(metrics_default(), "caisse_dead_letters_total",
                        "Kafka records parked in dead_letters and passed over: malformed, "
                        "bad_mac (a command without a valid MAC) or failed (non-transient "
                        "error CAISSE_DEAD_LETTER_AFTER times)",
                        labels);
}

void dead_letter_count(const char *consumer, const char *reason)
{
    pthread_once(&dead_letter_metrics_once, dead_letter_metrics_init);
    const char *values[] = {consumer, reason};
    metrics_counter_add(metrics_series(dead_letter_total, values), 1);
}

/* bytea's text input: "\x" and two hex digits a byte. NULL when out of
 * memory. */
static char *dead_letter_hex(const void *bytes, size_t len)
{
    char *out = malloc(2 + 2 * len + 1);
    if (out == NULL)
        return NULL;
    out[0] = '\\';
    out[1] = 'x';
    hex_encode(bytes, len, out + 2);
    return out;
}

/* encode(x, 'hex') back into bytes (owned, NUL-terminated for convenience). */
static int dead_letter_unhex(const char *text, unsigned char **out, size_t *len)
{
    size_t n = strlen(text);
    unsigned char *b = malloc(n / 2 + 1);
    if (b == NULL)
        return C_ERR;
    if (hex_decode(text, n, b) != C_OK) {
        free(b);
        return C_ERR;
    }
    b[n / 2] = '\0';
    *out = b;
    *len = n / 2;
    return C_OK;
}

json_t *dead_letter_headers_json(const rd_kafka_message_t *m)
{
    json_t *out = json_array();
    rd_kafka_headers_t *hdrs = NULL;
    if (out == NULL || rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return out;
    const char *name;
    const void *value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        json_t *h = json_pack("{ss}", "name", name);
        json_t *text = value != NULL ? json_stringn(value, size) : json_null();
        if (h != NULL && text != NULL) {
            json_object_set_new(h, "value", text);
        } else if (h != NULL) {
            /* Not UTF-8: kept as base64. */
            char *b64 = malloc(4 * ((size + 2) / 3) + 1);
            if (b64 != NULL) {
                EVP_EncodeBlock((unsigned char *)b64, value, (int)size);
                json_object_set_new(h, "value_base64", json_string(b64));
            }
            free(b64);
        }
        if (h == NULL || json_array_append_new(out, h) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int dead_letter_park(struct db *db, const char *consumer, const rd_kafka_message_t *m,
                     const char *reason, const char *error, int failures, bool *inserted)
{
    char partition[16], offset[24], count[16];
    snprintf(partition, sizeof(partition), "%" PRId32, m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    snprintf(count, sizeof(count), "%d", failures > 0 ? failures : 1);
    char error_text[DEAD_LETTER_ERROR_MAX + 1];
    /* Cut on a character boundary: PostgreSQL refuses a broken UTF-8 tail. */
    size_t n = strlen(error);
    if (n > DEAD_LETTER_ERROR_MAX) {
        n = DEAD_LETTER_ERROR_MAX;
        while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(error_text, error, n);
    error_text[n] = '\0';
    json_t *headers = dead_letter_headers_json(m);
    char *headers_text = headers != NULL ? json_dumps(headers, JSON_COMPACT) : NULL;
    json_decref(headers);
    char *key = m->key != NULL ? dead_letter_hex(m->key, m->key_len) : NULL;
    char *value = m->payload != NULL ? dead_letter_hex(m->payload, m->len) : NULL;
    int rc = C_ERR;
    if (headers_text != NULL && (m->key == NULL || key != NULL) &&
        (m->payload == NULL || value != NULL)) {
        const char *params[] = {consumer,   rd_kafka_topic_name(m->rkt),
                                partition,  offset,
                                key,        headers_text,
                                value,      reason,
                                error_text, count};
        PGresult *r = db_exec(
            db,
            "INSERT INTO dead_letters (consumer, topic, \"partition\", \"offset\", key, headers, "
            "value, reason, error, failure_count) "
            "VALUES ($1, $2, $3::integer, $4::bigint, $5::bytea, $6::jsonb, $7::bytea, $8, $9, "
            "$10::integer) "
            "ON CONFLICT (consumer, topic, \"partition\", \"offset\") DO UPDATE SET "
            "error = EXCLUDED.error, reason = EXCLUDED.reason, last_failed_at = now(), "
            "failure_count = dead_letters.failure_count + EXCLUDED.failure_count "
            "RETURNING (xmax = 0)",
            10, params);
        if (r != NULL) {
            *inserted = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
            PQclear(r);
            rc = C_OK;
            if (*inserted)
                dead_letter_count(consumer, reason);
        }
    }
    free(headers_text);
    free(key);
    free(value);
    return rc;
}

int dead_letter_list(struct db *db, long limit, bool all, json_t **out)
{
    char limit_text[24];
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[] = {limit_text, all ? "t" : "f"};
    return db_query_json_array(
        db,
        "SELECT coalesce(json_agg(d ORDER BY d.id DESC), '[]') FROM ("
        "SELECT id, consumer, topic, \"partition\", \"offset\", "
        "encode(key, 'escape') AS key, reason, error, failure_count, "
        "to_char(first_failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS "
        "first_failed_at, "
        "to_char(last_failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS "
        "last_failed_at, "
        "to_char(replayed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS "
        "replayed_at "
        "FROM dead_letters WHERE $2::boolean OR replayed_at IS NULL "
        "ORDER BY id DESC LIMIT $1::bigint) d",
        2, params, out);
}

void dead_letter_free(struct dead_letter *d)
{
    free(d->key);
    free(d->value);
    free(d->error);
    json_decref(d->headers);
    memset(d, 0, sizeof(*d));
}

int dead_letter_get(struct db *db, long long id, struct dead_letter *out, bool *found)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    const char *params[] = {id_text};
    PGresult *r =
        db_exec(db,
                "SELECT id, consumer, topic, \"partition\", \"offset\", encode(key, 'hex'), "
                "headers::text, encode(value, 'hex'), reason, error, failure_count, "
                "to_char(first_failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                "to_char(last_failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                "coalesce(to_char(replayed_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '') "
                "FROM dead_letters WHERE id = $1::bigint",
                1, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) == 1;
    if (!*found) {
        PQclear(r);
        return C_OK;
    }
    struct dead_letter d;
    memset(&d, 0, sizeof(d));
    d.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(d.consumer, sizeof(d.consumer), "%s", PQgetvalue(r, 0, 1));
    snprintf(d.topic, sizeof(d.topic), "%s", PQgetvalue(r, 0, 2));
    d.partition = (int32_t)strtol(PQgetvalue(r, 0, 3), NULL, 10);
    d.offset = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    int rc = C_OK;
    if (!PQgetisnull(r, 0, 5) && dead_letter_unhex(PQgetvalue(r, 0, 5), &d.key, &d.key_len) != C_OK)
        rc = C_ERR;
    d.headers = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
    if (d.headers == NULL)
        rc = C_ERR;
    if (!PQgetisnull(r, 0, 7) &&
        dead_letter_unhex(PQgetvalue(r, 0, 7), &d.value, &d.value_len) != C_OK)
        rc = C_ERR;
    snprintf(d.reason, sizeof(d.reason), "%s", PQgetvalue(r, 0, 8));
    d.error = strdup(PQgetvalue(r, 0, 9));
    if (d.error == NULL)
        rc = C_ERR;
    d.failure_count = (int)strtol(PQgetvalue(r, 0, 10), NULL, 10);
    snprintf(d.first_failed_at, sizeof(d.first_failed_at), "%s", PQgetvalue(r, 0, 11));
    snprintf(d.last_failed_at, sizeof(d.last_failed_at), "%s", PQgetvalue(r, 0, 12));
    snprintf(d.replayed_at, sizeof(d.replayed_at), "%s", PQgetvalue(r, 0, 13));
    PQclear(r);
    if (rc != C_OK) {
        dead_letter_free(&d);
        return C_ERR;
    }
    *out = d;
    return C_OK;
}

int dead_letter_mark_replayed(struct db *db, long long id)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%lld", id);
    const char *params[] = {id_text};
    return db_exec_command(db, "UPDATE dead_letters SET replayed_at = now() WHERE id = $1::bigint",
                           1, params);
}

int dead_letter_count_unreplayed(struct db *db, json_t **out)
{
    PGresult *r = db_exec(db,
                          "SELECT consumer, count(*) FROM dead_letters WHERE replayed_at IS NULL "
                          "GROUP BY consumer",
                          0, NULL);
    if (r == NULL)
        return C_ERR;
    json_t *counts = json_object();
    for (int i = 0; counts != NULL && i < PQntuples(r); i++)
        json_object_set_new(counts, PQgetvalue(r, i, 0),
                            json_integer(strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    PQclear(r);
    if (counts == NULL)
        return C_ERR;
    *out = counts;
    return C_OK;
}

int dead_letter_purge_replayed_older_than(struct db *db, long days, long limit, long *deleted)
{
    static const char sql[] = "DELETE FROM dead_letters WHERE id IN ("
                              "  SELECT id FROM dead_letters"
                              "  WHERE replayed_at < now() - make_interval(days => $1::int)"
                              "  ORDER BY replayed_at LIMIT $2)";
    char days_text[24], limit_text[24];
    snprintf(days_text, sizeof(days_text), "%ld", days);
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[2] = {days_text, limit_text};
    return db_exec_affected(db, sql, 2, params, deleted);
}
