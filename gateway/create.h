/* POST /checkout-sessions: validate, publish the create command, and answer
 * once the session is readable (201) or the wait runs out (202), without ever
 * blocking a server thread. The connection is suspended meanwhile; Kafka's
 * delivery report and the session worker's NOTIFY resume it. */
#ifndef GATEWAY_CREATE_H
#define GATEWAY_CREATE_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "db.h"
#include "http.h"

struct create_config {
    const char *database_url;
    const char *kafka_brokers;
    const char *public_base_url;
    long wait_ms;          /* readable within this, else 202 */
    long kafka_timeout_ms; /* delivery report deadline, then 503 */
    long default_ttl_seconds;
    long min_ttl_seconds;
    long max_ttl_seconds;
};

/* Starts the producer and the threads that poll it and LISTEN for commits. */
int create_init(const struct create_config *cfg);
/* Waits for in-flight creates (bounded by deadline_us, monotonic), flushes. */
void create_shutdown(int64_t deadline_us);

/* First pass: answers at once (errors, idempotent replays) or suspends. */
enum MHD_Result create_handle(struct http_request *req, struct db *db);
/* After the connection was resumed: answers with the outcome. */
enum MHD_Result create_finish(struct http_request *req);
/* Releases req->create if the connection ends early. */
void create_op_free(struct create_op *op);

bool create_kafka_ready(void);
bool create_listener_ready(void);
size_t create_in_flight(void);

#endif
