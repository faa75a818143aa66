/* The Kafka ACLs each service needs and no more (caisse-admin
 * grant-kafka-acls), made with librdkafka's Admin API over the client
 * security of the process (kafka_security_use): the admin user's. */
#ifndef CAISSE_KAFKA_ACLS_H
#define CAISSE_KAFKA_ACLS_H

#include "core/error.h"

/* The principals' user names and the consumer groups; reader and
 * reader_group_prefix may be "" (no reader). */
struct kafka_acls_principals {
    const char *gateway;
    const char *session_worker;
    const char *session_worker_group;
    const char *webhook_worker;
    const char *webhook_worker_group;
    const char *reader;              /* read-only consumer of the events, for people */
    const char *reader_group_prefix; /* the groups it may use: names starting with this */
};

/* Allows (idempotently: an existing ACL is kept):
 *   gateway         Write, Describe on checkout.session.commands
 *   session worker  Read, Describe on checkout.session.commands, Read on its group,
 *                   Write, Describe on checkout.session.events
 *   webhook worker  Read, Describe on checkout.session.events, Read on its group
 *   reader          Read, Describe on checkout.session.events, Read on groups
 *                   whose name starts with reader_group_prefix
 * *count is the number of ACL bindings asked for. */
int kafka_acls_grant(const char *brokers, const struct kafka_acls_principals *p, int *count,
                     struct error *err);

#endif
