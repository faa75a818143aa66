/* Process lifecycle shared by every service: SIGTERM/SIGINT only set a flag
 * (as in Redis); loops poll service_stopping() and wind down in order. */
#ifndef CAISSE_SERVICE_H
#define CAISSE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

/* Every binary's start: configuration from the environment (--help prints
 * it), JSON logging at the level *log_level names, signal handlers. Exits 2
 * on a configuration error, 1 if the handlers cannot be installed. */
void service_init_or_exit(int argc, char **argv, const char *service, const char *summary,
                          const struct config_entry *table, size_t n, char *const *log_level);
/* The last resort of a shutdown: once a stop was requested, the process exits
 * with 1 after grace_ms whatever is still running (a statement hung on a
 * frozen server), before an orchestrator would SIGKILL it anyway. */
int service_start_watchdog(long grace_ms);
int service_install_signal_handlers(void);
bool service_stopping(void);
/* Lets a test or an internal error start the same orderly shutdown. */
void service_request_stop(void);
/* Sleeps up to ms, returning early once a stop was requested. */
void service_sleep_ms(long ms);

#endif
