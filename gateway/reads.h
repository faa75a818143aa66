/* GET /checkout-sessions and GET /checkout-sessions/{id}. Route handlers
 * (routes.c): the caller is authenticated; {id} is req->route.params[0].
 *
 * A GET of one session that overlaps others is coalesced (read_batch.h): its
 * connection is suspended and the GETs waiting at the same time are read with
 * one statement (session_store_get_many) on the read connections' threads,
 * then each is answered by its server thread. A GET alone, one with expand,
 * every GET with no read connections configured or once shutting down, is
 * read on the server thread's own connection; so are lists. */
#ifndef GATEWAY_READS_H
#define GATEWAY_READS_H

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

struct reads_config {
    const char *public_base_url; /* must outlive the module */
    const char *database_url;    /* must outlive the module */
    long statement_timeout_ms;   /* of the read connections; 0: the server's */
    long connections;            /* read connections (each its thread); 0: no coalescing */
};

/* C_ERR: the read threads could not start (nothing to shut down). */
int reads_init(const struct reads_config *cfg);
/* Answers every coalesced GET still waiting and stops the read threads; a
 * GET after this is read on its server thread. Before the server stops. */
void reads_shutdown(void);
enum MHD_Result reads_get(struct http_request *req, struct db *db);
enum MHD_Result reads_list(struct http_request *req, struct db *db);

#endif
