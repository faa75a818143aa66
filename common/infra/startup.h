/* Waiting for PostgreSQL at start: a service may start before it (docker-compose,
 * a node reboot), so it retries with backoff instead of exiting, and still honours
 * SIGTERM meanwhile. Kafka needs no wait: librdkafka connects in the background and
 * the readiness checks say when it answers. */
#ifndef CAISSE_STARTUP_H
#define CAISSE_STARTUP_H

#include "infra/db.h"

/* C_OK once connected; C_ERR if a stop was requested first. */
int startup_wait_postgres(struct db *db);

#endif
