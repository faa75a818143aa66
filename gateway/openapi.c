#include "openapi.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result openapi_respond(struct http_request *req, struct db *db)
{
    (void)db;
    /* http_respond_json_text takes a heap copy it frees; the document is read
     * rarely, so copying it is cheaper than a second response path. */
    char *text = malloc(openapi_document_len + 1);
    if (text == NULL)
        return http_respond_unavailable(req);
    memcpy(text, openapi_document, openapi_document_len + 1);
    return http_respond_json_text(req, 200, text, NULL);
}
