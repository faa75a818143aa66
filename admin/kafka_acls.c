#include "kafka_acls.h"

#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "infra/kafka.h"

#define KAFKA_ACLS_MAX 16

struct kafka_acls_list {
    rd_kafka_AclBinding_t *bindings[KAFKA_ACLS_MAX];
    int n;
};

static int kafka_acls_add(struct kafka_acls_list *list, rd_kafka_ResourceType_t type,
                          const char *name, rd_kafka_ResourcePatternType_t pattern,
                          const char *user, rd_kafka_AclOperation_t op, struct error *err)
{
    if (list->n == KAFKA_ACLS_MAX)
        return error_set(err, NULL, "more than %d ACLs", KAFKA_ACLS_MAX);
    char principal[256], why[512];
    int len = snprintf(principal, sizeof(principal), "User:%s", user);
    if (len < 0 || (size_t)len >= sizeof(principal))
        return error_set(err, NULL, "user name too long: %s", user);
    rd_kafka_AclBinding_t *b =
        rd_kafka_AclBinding_new(type, name, pattern, principal, "*", op,
                                RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, why, sizeof(why));
    if (b == NULL)
        return error_set(err, NULL, "ACL for %s on %s: %s", principal, name, why);
    list->bindings[list->n++] = b;
    return C_OK;
}

static int kafka_acls_topic(struct kafka_acls_list *list, const char *topic, const char *user,
                            rd_kafka_AclOperation_t op, struct error *err)
{
    return kafka_acls_add(list, RD_KAFKA_RESOURCE_TOPIC, topic, RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                          user, op, err);
}

static int kafka_acls_build(struct kafka_acls_list *l, const struct kafka_acls_principals *p,
                            struct error *err)
{
    const char *cmd = KAFKA_TOPIC_COMMANDS, *ev = KAFKA_TOPIC_EVENTS;
    if (kafka_acls_topic(l, cmd, p->gateway, RD_KAFKA_ACL_OPERATION_WRITE, err) != C_OK ||
        kafka_acls_topic(l, cmd, p->gateway, RD_KAFKA_ACL_OPERATION_DESCRIBE, err) != C_OK ||
        kafka_acls_topic(l, cmd, p->session_worker, RD_KAFKA_ACL_OPERATION_READ, err) != C_OK ||
        kafka_acls_topic(l, cmd, p->session_worker, RD_KAFKA_ACL_OPERATION_DESCRIBE, err) != C_OK ||
        kafka_acls_add(l, RD_KAFKA_RESOURCE_GROUP, p->session_worker_group,
                       RD_KAFKA_RESOURCE_PATTERN_LITERAL, p->session_worker,
                       RD_KAFKA_ACL_OPERATION_READ, err) != C_OK ||
        kafka_acls_topic(l, ev, p->session_worker, RD_KAFKA_ACL_OPERATION_WRITE, err) != C_OK ||
        kafka_acls_topic(l, ev, p->session_worker, RD_KAFKA_ACL_OPERATION_DESCRIBE, err) != C_OK ||
        kafka_acls_topic(l, ev, p->webhook_worker, RD_KAFKA_ACL_OPERATION_READ, err) != C_OK ||
        kafka_acls_topic(l, ev, p->webhook_worker, RD_KAFKA_ACL_OPERATION_DESCRIBE, err) != C_OK ||
        kafka_acls_add(l, RD_KAFKA_RESOURCE_GROUP, p->webhook_worker_group,
                       RD_KAFKA_RESOURCE_PATTERN_LITERAL, p->webhook_worker,
                       RD_KAFKA_ACL_OPERATION_READ, err) != C_OK)
        return C_ERR;
    if (p->reader == NULL || p->reader[0] == '\0')
        return C_OK;
    if (kafka_acls_topic(l, ev, p->reader, RD_KAFKA_ACL_OPERATION_READ, err) != C_OK ||
        kafka_acls_topic(l, ev, p->reader, RD_KAFKA_ACL_OPERATION_DESCRIBE, err) != C_OK)
        return C_ERR;
    if (p->reader_group_prefix == NULL || p->reader_group_prefix[0] == '\0')
        return C_OK;
    return kafka_acls_add(l, RD_KAFKA_RESOURCE_GROUP, p->reader_group_prefix,
                          RD_KAFKA_RESOURCE_PATTERN_PREFIXED, p->reader,
                          RD_KAFKA_ACL_OPERATION_READ, err);
}

/* The results of CreateAcls: C_OK when every binding was created (or
 * existed: the broker treats a duplicate as created). */
static int kafka_acls_results(rd_kafka_event_t *ev, struct error *err)
{
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return error_set(err, NULL, "%s", rd_kafka_event_error_string(ev));
    const rd_kafka_CreateAcls_result_t *res = rd_kafka_event_CreateAcls_result(ev);
    if (res == NULL)
        return error_set(err, NULL, "unexpected answer to CreateAcls");
    size_t n;
    const rd_kafka_acl_result_t **results = rd_kafka_CreateAcls_result_acls(res, &n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_acl_result_error(results[i]);
        if (e != NULL)
            return error_set(err, NULL, "%s", rd_kafka_error_string(e));
    }
    return C_OK;
}

int kafka_acls_grant(const char *brokers, const struct kafka_acls_principals *p, int *count,
                     struct error *err)
{
    struct kafka_acls_list list = {.n = 0};
    if (kafka_acls_build(&list, p, err) != C_OK) {
        for (int i = 0; i < list.n; i++)
            rd_kafka_AclBinding_destroy(list.bindings[i]);
        return C_ERR;
    }
    int rc = C_ERR;
    rd_kafka_t *rk = kafka_probe_new(brokers, err);
    if (rk != NULL) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
        rd_kafka_AdminOptions_set_request_timeout(opts, 30000, NULL, 0);
        rd_kafka_CreateAcls(rk, list.bindings, (size_t)list.n, opts, q);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (ev == NULL) {
            error_set(err, NULL, "timed out creating ACLs");
        } else {
            rc = kafka_acls_results(ev, err);
            rd_kafka_event_destroy(ev);
        }
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
    }
    for (int i = 0; i < list.n; i++)
        rd_kafka_AclBinding_destroy(list.bindings[i]);
    if (rc == C_OK)
        *count = list.n;
    return rc;
}
