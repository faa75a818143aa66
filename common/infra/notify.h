/* PostgreSQL LISTEN/NOTIFY between services. A NOTIFY sent inside a
 * transaction is delivered only when it commits, so a listener that hears it
 * can read what the transaction wrote: that is what the channels below are for.
 *
 * Channels:
 *   caisse_session_applied  the session worker committed a batch of
 *       commands; payload = comma-separated object ids (no spaces, no trailing
 *       comma, each once, as the command spelled it): the session of every
 *       create command in the batch, inserted or already present, and of every
 *       complete/expire command, applied or not (a listener reads the row to
 *       learn the outcome); the object (product...) of every catalog command,
 *       applied or refused (a listener reads the command's outcome,
 *       model/command_outcome.h). The id of an object whose row this batch
 *       inserted is prefixed with NOTIFY_INSERTED_MARK and, when the batch held
 *       a single create command for that id, followed by NOTIFY_COMMAND_SEPARATOR
 *       and that command's id ("+<id>:<command id>"): that command made the
 *       object, and nothing needs to be read. (Retries of one Idempotency-Key
 *       share an object id, so only the command tells a waiting request whether
 *       the row is its own.) Malformed commands, and session creates that
 *       PostgreSQL refused, are not named. One batch may send several
 *       notifications (see NOTIFY_PAYLOAD_MAX). The gateway waits on it to
 *       answer 201 (or to answer a completion, an expiry, a catalog write).
 *   caisse_outbox (outbox.h)  new outbox rows; wakes the relay. */
#ifndef CAISSE_NOTIFY_H
#define CAISSE_NOTIFY_H

#include <jansson.h>

#include "infra/db.h"

#define NOTIFY_SESSION_APPLIED "caisse_session_applied"
#define NOTIFY_INSERTED_MARK '+'
#define NOTIFY_COMMAND_SEPARATOR ':'
/* PostgreSQL rejects payloads of 8000 bytes or more; stay well below. */
#define NOTIFY_PAYLOAD_MAX 7000

/* Sends payload on channel (in the caller's transaction, if any). */
int notify_send(struct db *db, const char *channel, const char *payload);
/* Sends items (a JSON array of strings, none longer than NOTIFY_PAYLOAD_MAX and
 * none containing a comma) joined by commas, in as few notifications of at most
 * NOTIFY_PAYLOAD_MAX bytes as they fit, with one statement. An empty array
 * sends nothing. */
int notify_send_list(struct db *db, const char *channel, const json_t *items);
/* LISTEN on channel, on the current connection (connects if needed). A new
 * connection after a reconnect listens on nothing: the caller LISTENs again. */
int notify_listen(struct db *db, const char *channel);
/* Waits up to timeout_ms for notifications on a connection that LISTENs and
 * drains them all (payloads are not kept). *received counts them; 0 after a
 * timeout. Returns at once if some had already arrived with an earlier result.
 * C_ERR: the connection broke (it is dropped: its LISTENs and session locks are
 * gone). */
int notify_wait(struct db *db, long timeout_ms, int *received);

#endif
