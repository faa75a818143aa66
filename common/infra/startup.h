/* Waiting for dependencies at start: a service may start before PostgreSQL or
 * Kafka (docker-compose, a node reboot), so it retries with backoff instead of
 * exiting, and still honours SIGTERM meanwhile. */
#ifndef CAISSE_STARTUP_H
#define CAISSE_STARTUP_H

#include <librdkafka/rdkafka.h>

#include "infra/db.h"

/* C_OK once connected; C_ERR if a stop was requested first. */
int startup_wait_postgres(struct db *db);
/* C_OK once a broker answers a metadata request; C_ERR if a stop was requested first. */
int startup_wait_kafka(rd_kafka_t *rk);

#endif
