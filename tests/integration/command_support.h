/* Commands written to checkout.session.commands by the tests themselves, with kcat
 * (an independent producer), signed or not: a real create command taken from Kafka as
 * a template and given a new session, completions, and what the dead_letters table
 * and the session worker's metrics say about them (tests/integration/deadletters.c,
 * faults.c). */
#ifndef TEST_COMMAND_SUPPORT_H
#define TEST_COMMAND_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"

/* The create command of a new session made through the API (tenant A), as the gateway
 * produced it: a template for test_command_forge_create. New reference. */
json_t *test_command_template(void);
/* The template's text for a session of its own (new session id and command id, its
 * metadata {"dl": marker}), into id. Free the text. */
char *test_command_forge_create(const json_t *tmpl, const char *marker, char id[UUID_STR_LEN]);
/* A completion command of session id, as the internal API would make it. Free it. */
char *test_command_complete(const char *id, int64_t amount, const char *currency_code);
/* caisse-mac's value for key and value under key_setting ("<id>:<secret>"). */
void test_command_sign(const char *key_setting, const char *key, const char *value, char *out,
                       size_t outlen);
/* Produces value under key with content-type, caisse-mac = mac when not NULL, and the
 * contract check's "deliberately malformed" header when test_input (a record the
 * contract check must pass over). */
void test_command_produce(const char *key, const char *value, const char *mac, bool test_input);
/* Waits up to timeout_ms for count dead letters of the session worker whose value
 * contains needle with reason; the number found. */
long test_dead_letters_wait(const char *needle, const char *reason, long count, int timeout_ms);
/* Waits up to timeout_ms for the session to exist; whether it does. */
bool test_session_wait(const char *id, int timeout_ms);
/* caisse_dead_letters_total{consumer="session-worker",reason} now. */
double test_dead_letters_metric(const char *reason);

#endif
