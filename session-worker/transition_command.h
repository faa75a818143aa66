/* The transition commands (checkout.session.complete, checkout.session.expire):
 * decoding their data, which the gateway wrote with session_command_complete
 * and session_command_expire, and applying one with its guarded UPDATE. */
#ifndef SESSION_WORKER_TRANSITION_COMMAND_H
#define SESSION_WORKER_TRANSITION_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/outbox.h"
#include "model/session.h"

enum transition_command_kind { TRANSITION_COMMAND_COMPLETE, TRANSITION_COMMAND_EXPIRE };

/* One decoded transition. UUID fields are "" when absent (only customer_id
 * may be); session_id is kept exactly as the command carried it, so the
 * notification names the session the way the gateway that waits on it does. */
struct transition_command {
    enum transition_command_kind kind;
    char session_id[UUID_STR_LEN];
    char event_id[UUID_STR_LEN]; /* set by the caller, once per batch */
    /* complete */
    char *payment_reference; /* owned */
    char customer_id[UUID_STR_LEN];
    /* expire */
    char organization_id[UUID_STR_LEN];
    char environment[SESSION_ENV_LEN];
};

/* C_OK and *out set when type names a transition command. */
int transition_command_kind_parse(const char *type, enum transition_command_kind *out);

/* Decodes the data of a command of the given kind. Refuses what PostgreSQL
 * would refuse (so one bad message is reported as such, not as a failed
 * batch): session_id, organization_id and customer_id must be UUIDs,
 * payment_reference 1..SESSION_PAYMENT_REFERENCE_MAX characters without NUL,
 * environment test or live. Unknown fields are ignored. C_ERR with the
 * reason in err (out untouched) when malformed or out of memory. event_id is "". */
int transition_command_decode(enum transition_command_kind kind, const json_t *data,
                              struct transition_command *out, struct error *err);
void transition_command_free(struct transition_command *t);

/* Applies t in the caller's transaction: session_store_complete or
 * session_store_expire with t's event id, which adds the event to events. A
 * completion that names no customer_id first gives the session its customer
 * (customer_for_completion: found by email or created, with its event).
 * *applied false: the guard did not hold (a replay, a session no longer open,
 * another tenant's), nothing added. */
int transition_command_apply(struct db *db, const struct transition_command *t,
                             const char *public_base_url, struct outbox_batch *events,
                             bool *applied);

#endif
