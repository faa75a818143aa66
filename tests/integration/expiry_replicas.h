/* Extra expiry-worker processes beside the stack's, for tests proving that
 * concurrent sweepers never do one thing twice. Each runs in a subshell that
 * records its pid, its log (debug level) and its exit status after SIGTERM in
 * a temporary folder of the test's own. */
#ifndef CAISSE_TEST_EXPIRY_REPLICAS_H
#define CAISSE_TEST_EXPIRY_REPLICAS_H

#include <stddef.h>

enum { EXPIRY_REPLICAS = 2 };

/* Starts EXPIRY_REPLICAS workers (batch sizes batch, batch + step, ...) with a
 * 100 ms interval, and waits until each has connected to PostgreSQL. */
void expiry_replicas_start(const char *tag, const char *base_url, int batch, int step);

/* The path of replica i's "log", "pid" or "rc" file. */
void expiry_replicas_file(int i, const char *what, char *out, size_t outlen);

/* The sum of field over replica i's "expiry sweep" log lines. */
long expiry_replicas_sum(int i, const char *field);

/* A test's .fini: whatever it asserted, no replica outlives it and the
 * stack's own expiry worker runs again. */
void expiry_replicas_stop(void);

/* Removes the replicas' folder once they have stopped. */
void expiry_replicas_remove(void);

#endif
