/* Dead letters: the Kafka records a consumer gave up on (table dead_letters,
 * migration 0010), with their topic, partition, offset, key, headers and
 * bytes, why, and how many times they failed. The session worker parks
 * commands, the webhook worker events; caisse-admin lists, shows and
 * replays them. Parking counts caisse_dead_letters_total{consumer,reason}.
 *
 * A record is parked once per consumer: a redelivery of one already parked
 * (a crash between the park and the offset commit) updates its row. */
#ifndef CAISSE_DEAD_LETTER_H
#define CAISSE_DEAD_LETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "infra/db.h"

/* Why a record was parked (the column reason, the metric's label). */
#define DEAD_LETTER_MALFORMED "malformed" /* not what its topic carries */
#define DEAD_LETTER_BAD_MAC "bad_mac"     /* a command without a valid caisse-mac */
#define DEAD_LETTER_FAILED "failed"       /* failed CAISSE_DEAD_LETTER_AFTER times */
#define DEAD_LETTER_ERROR_MAX 1000        /* bytes of error text kept */

/* One row, as read back. */
struct dead_letter {
    long long id;
    char consumer[64];
    char topic[256];
    int32_t partition;
    int64_t offset;
    unsigned char *key; /* owned; NULL: the record had none */
    size_t key_len;
    json_t *headers;      /* owned: [{"name", "value" | "value_base64"}] */
    unsigned char *value; /* owned; NULL: the record had none */
    size_t value_len;
    char reason[16];
    char *error; /* owned */
    int failure_count;
    char first_failed_at[40], last_failed_at[40];
    char replayed_at[40]; /* "" while not replayed */
};

/* Parks m for consumer: inserts its row, or updates the row of a record
 * already parked (error, failure count, last_failed_at). Autocommit (its own
 * statement, outside any transaction of the caller). *inserted: a new row
 * (then counted in caisse_dead_letters_total{consumer,reason}). C_ERR: the
 * database failed (db's sqlstate says whether it may heal). */
int dead_letter_park(struct db *db, const char *consumer, const rd_kafka_message_t *m,
                     const char *reason, const char *error, int failures, bool *inserted);

/* The headers of m as the column stores them. New reference; NULL when out
 * of memory. */
json_t *dead_letter_headers_json(const rd_kafka_message_t *m);

/* The rows (newest first, at most limit; with replayed ones when all), as a
 * JSON array of summaries (no bytes): id, consumer, topic, partition,
 * offset, key (text), reason, error, failure_count, first_failed_at,
 * last_failed_at, replayed_at. New reference in *out. */
int dead_letter_list(struct db *db, long limit, bool all, json_t **out);

/* Row id; *found false when there is none. d is the caller's to free with
 * dead_letter_free on found. */
int dead_letter_get(struct db *db, long long id, struct dead_letter *d, bool *found);
void dead_letter_free(struct dead_letter *d);

/* Sets replayed_at = now() on row id. */
int dead_letter_mark_replayed(struct db *db, long long id);
/* Deletes at most limit dead letters replayed more than days ago, oldest
 * first (*deleted: how many). Unreplayed ones are kept whatever their age:
 * they are an operator's to look into (the unreplayed gauge and its alert). */
int dead_letter_purge_replayed_older_than(struct db *db, long days, long limit, long *deleted);

/* The rows not replayed yet, per consumer: {"session-worker": n, ...}. New
 * reference in *out. */
int dead_letter_count_unreplayed(struct db *db, json_t **out);

/* Counts one parked record in caisse_dead_letters_total{consumer,reason}
 * (dead_letter_park does it for new rows). */
void dead_letter_count(const char *consumer, const char *reason);

#endif
