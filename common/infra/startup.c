#include "startup.h"

#include "core/backoff.h"
#include "core/log.h"
#include "core/result.h"
#include "infra/service.h"

#define STARTUP_BACKOFF_MIN_MS 100
#define STARTUP_BACKOFF_MAX_MS 5000

int startup_wait_postgres(struct db *db)
{
    struct backoff b;
    backoff_init(&b, STARTUP_BACKOFF_MIN_MS, STARTUP_BACKOFF_MAX_MS);
    for (int attempt = 1; !service_stopping(); attempt++) {
        if (db_ensure(db) == C_OK) {
            log_info("postgres connected");
            return C_OK;
        }
        long delay = backoff_next(&b);
        /* The first failure is normal during a stack start; repeated ones are not. */
        log_fields(attempt == 1 ? LOG_INFO : LOG_WARN,
                   json_pack("{si si}", "attempt", attempt, "retry_in_ms", (int)delay),
                   "waiting for postgres: %s", db->last_error);
        service_sleep_ms(delay);
    }
    return C_ERR;
}
