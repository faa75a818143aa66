#include "service.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/result.h"

static volatile sig_atomic_t service_stop_flag;

static void service_on_signal(int sig)
{
    (void)sig;
    service_stop_flag = 1;
}

int service_install_signal_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = service_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return C_ERR;
    /* A client that hangs up must not kill the process mid-write. */
    signal(SIGPIPE, SIG_IGN);
    return C_OK;
}

bool service_stopping(void)
{
    return service_stop_flag != 0;
}

void service_request_stop(void)
{
    service_stop_flag = 1;
}

void service_sleep_ms(long ms)
{
    while (ms > 0 && !service_stopping()) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

void service_init_or_exit(int argc, char **argv, const char *service, const char *summary,
                          const struct config_entry *table, size_t n, char *const *log_level)
{
    config_init_or_exit(argc, argv, summary, table, n);
    if (log_init(service, *log_level) != C_OK) {
        fprintf(stderr, "%s: CAISSE_LOG_LEVEL must be debug, info, warn or error (got \"%s\")\n",
                service, *log_level);
        config_free(table, n);
        exit(2);
    }
    if (service_install_signal_handlers() != C_OK) {
        log_error("cannot install signal handlers");
        config_free(table, n);
        exit(1);
    }
}

static long service_grace_ms;

static void *service_watchdog_main(void *arg)
{
    (void)arg;
    while (!service_stopping())
        service_sleep_ms(100);
    struct timespec ts = {service_grace_ms / 1000, (service_grace_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    log_error("shutdown did not finish within CAISSE_SHUTDOWN_GRACE_MS (%ld ms); exiting",
              service_grace_ms);
    _exit(1);
    return NULL;
}

int service_start_watchdog(long grace_ms)
{
    service_grace_ms = grace_ms;
    pthread_t t;
    if (pthread_create(&t, NULL, service_watchdog_main, NULL) != 0)
        return C_ERR;
    return pthread_detach(t) == 0 ? C_OK : C_ERR;
}
