/* GET /openapi.json: the OpenAPI 3.1 document of the whole REST API
 * (common/contracts/openapi.json), compiled into the binary by gateway/openapi_embed.sh. */
#ifndef GATEWAY_OPENAPI_H
#define GATEWAY_OPENAPI_H

#include <stddef.h>

#include <microhttpd.h>

#include "http.h"

struct db;

/* The document's bytes, then a NUL; openapi_document_len excludes the NUL. */
extern const unsigned char openapi_document[];
extern const size_t openapi_document_len;

/* Route handler (routes.c): 200 with the document as application/json; no
 * authentication, db unused. */
enum MHD_Result openapi_respond(struct http_request *req, struct db *db);

#endif
