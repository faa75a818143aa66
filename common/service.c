#include "service.h"

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "result.h"

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
