/* What the session worker made of a command someone waits on (a catalog
 * write): applied, or refused with the API error to answer. The worker records
 * it in the transaction of the command's effect (command_outcome_insert), so
 * the gateway that waits for the command reads it once the commit
 * notification names the command's object: no row yet means "not applied
 * yet". A command whose outcome is recorded is not applied again when Kafka
 * delivers it again. Outcomes are kept as long as events (the expiry worker's
 * retention purges both). */
#ifndef CAISSE_COMMAND_OUTCOME_H
#define CAISSE_COMMAND_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/uuid.h"
#include "infra/db.h"

/* The codes of a refusal: the API error codes the gateway answers with. */
#define COMMAND_OUTCOME_NOT_FOUND "not_found"         /* 404 */
#define COMMAND_OUTCOME_CONFLICT "resource_conflict"  /* 409 */
#define COMMAND_OUTCOME_INVALID_STATE "invalid_state" /* 409 */
#define COMMAND_OUTCOME_INVALID "validation_error"    /* 400 */
#define COMMAND_OUTCOME_CODE_MAX 40
#define COMMAND_OUTCOME_MESSAGE_MAX 300

struct command_outcome {
    char command_id[UUID_STR_LEN];
    char object_id[UUID_STR_LEN];
    bool refused;
    char code[COMMAND_OUTCOME_CODE_MAX];       /* refused: one of the codes above */
    char message[COMMAND_OUTCOME_MESSAGE_MAX]; /* refused: the API error's message */
};

/* Applied (code and message empty). */
void command_outcome_applied(struct command_outcome *o, const char *command_id,
                             const char *object_id);
/* Refused, with code and a message (cut to fit). */
void command_outcome_refused(struct command_outcome *o, const char *command_id,
                             const char *object_id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Which of command_ids[0..n) have an outcome recorded: recorded[i]. In the
 * caller's transaction (the worker's batch). */
int command_outcome_find_recorded(struct db *db, const char *const *command_ids, size_t n,
                                  bool *recorded);
/* Records outcomes[0..n) in one statement, in the caller's transaction; one
 * already recorded is left as it is. */
int command_outcome_insert(struct db *db, const struct command_outcome *outcomes, size_t n);
/* The outcome of command_id; found false: not recorded (yet). */
int command_outcome_get(struct db *db, const char *command_id, struct command_outcome *out,
                        bool *found);
/* Deletes up to limit outcomes recorded more than days ago, oldest first;
 * *deleted < limit: nothing older is left for now. */
int command_outcome_purge_older_than(struct db *db, long days, long limit, long *deleted);

#endif
