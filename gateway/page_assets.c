#include "page_assets.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const struct page_asset *page_assets_find(const char *name)
{
    for (size_t i = 0; i < page_assets_count; i++) {
        if (strcmp(page_assets_files[i].name, name) == 0)
            return &page_assets_files[i];
    }
    return NULL;
}

void page_assets_etag(const struct page_asset *a, char out[20])
{
    /* FNV-1a: the bytes change only with a new binary, so any stable digest does. */
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < a->len; i++) {
        h ^= (unsigned char)a->data[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 20, "\"%016" PRIx64 "\"", h);
}
