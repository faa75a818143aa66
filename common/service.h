/* Process lifecycle shared by every service: SIGTERM/SIGINT only set a flag
 * (as in Redis); loops poll service_stopping() and wind down in order. */
#ifndef CAISSE_SERVICE_H
#define CAISSE_SERVICE_H

#include <stdbool.h>

int service_install_signal_handlers(void);
bool service_stopping(void);
/* Lets a test or an internal error start the same orderly shutdown. */
void service_request_stop(void);
/* Sleeps up to ms, returning early once a stop was requested. */
void service_sleep_ms(long ms);

#endif
