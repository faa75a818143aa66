/* The hosted checkout page's files, compiled into the gateway by
 * gateway/page/embed.sh: the templates (*.html, read by page_render.c) and
 * the static CSS and JavaScript served under /checkout/assets/. */
#ifndef GATEWAY_PAGE_ASSETS_H
#define GATEWAY_PAGE_ASSETS_H

#include <stddef.h>

struct page_asset {
    const char *name; /* the file's name in gateway/page/: "open.html" */
    const char *data; /* its bytes, NUL-terminated */
    size_t len;
};

extern const struct page_asset page_assets_files[];
extern const size_t page_assets_count;

/* The file called name, or NULL. */
const struct page_asset *page_assets_find(const char *name);
/* A strong ETag of the file's bytes ("\"<16 hex>\""), into out. */
void page_assets_etag(const struct page_asset *a, char out[20]);

#endif
