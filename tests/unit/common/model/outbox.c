/* The one outbox writer: the events of a transaction, in the order they were
 * added, as the COPY rows outbox_insert sends. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/outbox.h"
#include "../../leak_check.h"

TestSuite(outbox, .fini = unit_leak_check);

#define EV1 "0190a6e4-0000-7000-8000-0000000000e1"
#define EV2 "0190a6e4-0000-7000-8000-0000000000e2"
#define SESSION_ID "0190a6e4-6b2c-7d3e-8f41-123456789abc"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"

Test(outbox, rows_are_the_six_columns_in_copy_text_in_the_order_added)
{
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    struct outbox_event first = {
        EV1, SESSION_ID, ORG_ID, "live", "checkout.session.created", "{\"id\":\"" EV1 "\"}"};
    struct outbox_event second = {
        EV2, SESSION_ID, ORG_ID, "live", "checkout.session.completed", "{\"id\":\"" EV2 "\"}"};
    cr_assert_eq(outbox_batch_add(&b, &first), C_OK);
    cr_assert_eq(outbox_batch_add(&b, &second), C_OK);
    cr_assert_eq(b.count, 2);
    cr_assert_str_eq(b.copy, EV1 "\t" SESSION_ID "\t" ORG_ID "\tlive\tcheckout.session.created\t"
                                 "{\"id\":\"" EV1 "\"}\n" EV2 "\t" SESSION_ID "\t" ORG_ID
                                 "\tlive\tcheckout.session.completed\t{\"id\":\"" EV2 "\"}\n");
    cr_assert_eq(b.len, strlen(b.copy));
    outbox_batch_free(&b);
}

Test(outbox, payload_backslashes_and_line_breaks_are_escaped_for_copy)
{
    /* JSON text has backslashes in its escapes; COPY would read them as its
     * own. Tabs and line breaks cannot occur in compact JSON, but a payload
     * holding one must still arrive whole. */
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    struct outbox_event ev = {EV1,
                              SESSION_ID,
                              ORG_ID,
                              "test",
                              "checkout.session.expired",
                              "{\"t\":\"a\\\"b\\\\c\\u001F\xe2\x80\xa8\"}\t\n\r"};
    cr_assert_eq(outbox_batch_add(&b, &ev), C_OK);
    cr_assert_str_eq(b.copy, EV1 "\t" SESSION_ID "\t" ORG_ID "\ttest\tcheckout.session.expired\t"
                                 "{\"t\":\"a\\\\\"b\\\\\\\\c\\\\u001F\xe2\x80\xa8\"}\\t\\n\\r\n");
    outbox_batch_free(&b);
}

Test(outbox, a_large_batch_keeps_every_row_in_order)
{
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    char payload[3000];
    memset(payload, 'p', sizeof(payload) - 1);
    payload[sizeof(payload) - 1] = '\0';
    for (int i = 0; i < 500; i++) {
        char id[64];
        snprintf(id, sizeof(id), "0190a6e4-0000-7000-8000-%012d", i);
        struct outbox_event ev = {id,     SESSION_ID, ORG_ID, "test", "checkout.session.expired",
                                  payload};
        cr_assert_eq(outbox_batch_add(&b, &ev), C_OK);
    }
    cr_assert_eq(b.count, 500);
    /* Line i starts with event i. */
    const char *line = b.copy;
    for (int i = 0; i < 500; i++) {
        char id[64];
        snprintf(id, sizeof(id), "0190a6e4-0000-7000-8000-%012d\t", i);
        cr_assert_eq(strncmp(line, id, strlen(id)), 0, "line %d", i);
        line = strchr(line, '\n');
        cr_assert_not_null(line);
        line++;
    }
    cr_assert_eq(*line, '\0');
    outbox_batch_free(&b);
}

static long grow_calls;
static void *failing_grow(void *p, size_t n)
{
    (void)p;
    (void)n;
    grow_calls++;
    return NULL;
}

Test(outbox, out_of_memory_leaves_the_batch_as_it_was)
{
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    struct outbox_event ev = {EV1, SESSION_ID, ORG_ID, "live", "checkout.session.created", "{}"};
    cr_assert_eq(outbox_batch_add(&b, &ev), C_OK);
    char *before = strdup(b.copy);
    cr_assert_not_null(before);
    size_t len = b.len;
    b.grow = failing_grow;
    /* Larger than the room left: the batch must grow, and cannot. */
    size_t n = b.cap + 1;
    char *payload = malloc(n + 1);
    cr_assert_not_null(payload);
    memset(payload, 'x', n);
    payload[n] = '\0';
    struct outbox_event big = {EV2,    SESSION_ID, ORG_ID, "live", "checkout.session.expired",
                               payload};
    grow_calls = 0;
    cr_assert_eq(outbox_batch_add(&b, &big), C_ERR);
    cr_assert_eq(grow_calls, 1);
    cr_assert_eq(b.count, 1);
    cr_assert_eq(b.len, len);
    cr_assert_str_eq(b.copy, before);
    free(payload);
    free(before);
    outbox_batch_free(&b);
}

Test(outbox, clear_forgets_the_events)
{
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    struct outbox_event ev = {EV1, SESSION_ID, ORG_ID, "live", "checkout.session.created", "{}"};
    cr_assert_eq(outbox_batch_add(&b, &ev), C_OK);
    outbox_batch_clear(&b);
    cr_assert_eq(b.count, 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(outbox_batch_add(&b, &ev), C_OK);
    cr_assert_eq(b.count, 1);
    cr_assert_eq(strncmp(b.copy, EV1 "\t", strlen(EV1) + 1), 0);
    outbox_batch_free(&b);
    outbox_batch_free(&b);
}

Test(outbox, an_empty_batch_sends_nothing)
{
    /* No COPY at all: the database is not even looked at. */
    struct outbox_batch b = OUTBOX_BATCH_INIT;
    cr_assert_eq(outbox_insert(NULL, &b), C_OK);
}
