#include "expiry_replicas.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "support.h"

static char replicas_dir[64];

void expiry_replicas_file(int i, const char *what, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/replica%d.%s", replicas_dir, i, what);
}

static bool replicas_log_contains(const char *path, const char *needle)
{
    return test_shell("grep -q '%s' %s 2>/dev/null", needle, path) == 0;
}

void expiry_replicas_start(const char *tag, const char *base_url, int batch, int step)
{
    snprintf(replicas_dir, sizeof(replicas_dir), "/tmp/caisse-%s-XXXXXX", tag);
    cr_assert(mkdtemp(replicas_dir) != NULL);
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        char log[128], pid[128], rc[128];
        expiry_replicas_file(i, "log", log, sizeof(log));
        expiry_replicas_file(i, "pid", pid, sizeof(pid));
        expiry_replicas_file(i, "rc", rc, sizeof(rc));
        cr_assert_eq(test_shell("( CAISSE_DATABASE_URL='%s' CAISSE_PUBLIC_BASE_URL='%s'"
                                " CAISSE_LOG_LEVEL=debug CAISSE_EXPIRY_BATCH=%d"
                                " CAISSE_EXPIRY_INTERVAL_MS=100 CAISSE_OPS_PORT=0"
                                " %s/build/bin/caisse-expiry-worker 2>%s </dev/null &"
                                " echo $! >%s; wait $!; echo $? >%s ) >/dev/null 2>&1 &",
                                test_env("CAISSE_DATABASE_URL"), base_url, batch + step * i,
                                test_env("CAISSE_TEST_REPO"), log, pid, rc),
                     0);
    }
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        char log[128];
        expiry_replicas_file(i, "log", log, sizeof(log));
        long start = clock_now_ms();
        while (!replicas_log_contains(log, "postgres connected") && clock_now_ms() - start < 20000)
            test_sleep_ms(100);
        cr_assert(replicas_log_contains(log, "postgres connected"), "replica %d did not start", i);
    }
}

long expiry_replicas_sum(int i, const char *field)
{
    char path[128], line[4096];
    expiry_replicas_file(i, "log", path, sizeof(path));
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "no log %s", path);
    long total = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *o = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (msg != NULL && strcmp(msg, "expiry sweep") == 0)
            total += (long)json_integer_value(json_object_get(o, field));
        json_decref(o);
    }
    fclose(f);
    return total;
}

void expiry_replicas_stop(void)
{
    if (replicas_dir[0] != '\0')
        test_shell("for f in %s/replica*.pid; do [ -f \"$f\" ] && kill -TERM \"$(cat \"$f\")\" "
                   "2>/dev/null; done; true",
                   replicas_dir);
    if (test_service_pid("expiry-worker") == 0)
        test_service_start("expiry-worker", NULL);
}

void expiry_replicas_remove(void)
{
    test_shell("sleep 1; rm -rf %s", replicas_dir);
    replicas_dir[0] = '\0';
}
