/* bench-http-ceiling: the HTTP ceiling of the benchmarks. A trivial handler
 * (a small JSON 200) served by libmicrohttpd in exactly the gateway's
 * configuration: the daemon is started by the gateway's own server_mhd_start
 * (gateway/server.c), with the thread count, connection timeout and limits
 * read from the same variables and defaults as caisse-gateway. Whatever a gateway route
 * does beyond this is the cost the GET and POST ratios show. */
#include <stdio.h>
#include <stdlib.h>

#include <microhttpd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/result.h"
#include "server.h"
#include "infra/service.h"

static struct {
    char *host;
    char *log_level;
    long port;
    long threads;
    long connection_timeout;
    long max_connections;
    long max_connections_per_ip;
    long request_timeout;
} ceiling_cfg;

/* Names and defaults as in gateway/main.c (the benchmark also passes the
 * thread count the running gateway logged, so a drift would still be caught). */
static const struct config_entry ceiling_config[] = {
    {"CAISSE_GATEWAY_HOST", CONFIG_STRING, "0.0.0.0", "IPv4 address to listen on",
     &ceiling_cfg.host, 0, 0},
    {"CAISSE_GATEWAY_PORT", CONFIG_INT, "8080", "Port to listen on", &ceiling_cfg.port, 1, 65535},
    {"CAISSE_GATEWAY_THREADS", CONFIG_INT, "4", "HTTP server threads (as the gateway)",
     &ceiling_cfg.threads, 1, 256},
    {"CAISSE_HTTP_CONNECTION_TIMEOUT", CONFIG_INT, "30", "Idle HTTP connection timeout in seconds",
     &ceiling_cfg.connection_timeout, 1, 3600},
    {"CAISSE_HTTP_MAX_CONNECTIONS", CONFIG_INT, "1024", "Most open connections (as the gateway)",
     &ceiling_cfg.max_connections, 1, 1000000},
    {"CAISSE_HTTP_MAX_CONNECTIONS_PER_IP", CONFIG_INT, "128",
     "Most open connections from one address (as the gateway); 0: no limit",
     &ceiling_cfg.max_connections_per_ip, 0, 1000000},
    {"CAISSE_HTTP_REQUEST_TIMEOUT", CONFIG_INT, "10",
     "Seconds to send a whole request (as the gateway); 0: no deadline",
     &ceiling_cfg.request_timeout, 0, 3600},
    {"CAISSE_LOG_LEVEL", CONFIG_STRING, "info", "debug, info, warn or error",
     &ceiling_cfg.log_level, 0, 0},
};

static const char ceiling_body[] = "{\"status\":\"ok\"}";
static int ceiling_marker;

/* The gateway's two-step pattern: the first call only sets up the request,
 * the next ones take the body (none here) and answer. */
static enum MHD_Result ceiling_access(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &ceiling_marker;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    deadline_request_received(conn);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof(ceiling_body) - 1, (void *)ceiling_body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void ceiling_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    deadline_request_done(conn);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    service_init_or_exit(argc, argv, "bench-http-ceiling",
                         "bench-http-ceiling: a trivial JSON 200 in the gateway's libmicrohttpd "
                         "configuration (the HTTP ceiling of make bench).",
                         ceiling_config, CONFIG_TABLE_SIZE(ceiling_config), &ceiling_cfg.log_level);
    static struct server_listener listener;
    listener = (struct server_listener){
        .name = "merchant",
        .host = ceiling_cfg.host,
        .port = ceiling_cfg.port,
        .threads = ceiling_cfg.threads,
        .connection_timeout_s = ceiling_cfg.connection_timeout,
        .max_connections = ceiling_cfg.max_connections,
        .max_connections_per_ip = ceiling_cfg.max_connections_per_ip,
        .request_timeout_s = ceiling_cfg.request_timeout,
    };
    server_reserve_files(ceiling_cfg.max_connections + 256);
    struct MHD_Daemon *d = server_mhd_start(&listener, ceiling_access, NULL, ceiling_completed);
    if (d == NULL)
        return 1;
    log_fields(LOG_INFO,
               json_pack("{ss si si}", "host", ceiling_cfg.host, "port", (int)ceiling_cfg.port,
                         "threads", (int)ceiling_cfg.threads),
               "http ceiling listening");
    while (!service_stopping())
        service_sleep_ms(200);
    MHD_stop_daemon(d);
    deadline_stop();
    config_free(ceiling_config, CONFIG_TABLE_SIZE(ceiling_config));
    return 0;
}
