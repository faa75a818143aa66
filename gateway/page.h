/* The hosted checkout page (issue 14): the routes of /checkout/ on the
 * merchant listener. A customer opens a session's url
 * (<CAISSE_PUBLIC_BASE_URL>/checkout/<id>/<secret>), sees the order in its
 * state (open, processing, complete, expired), chooses a quantity, applies a
 * coupon, gives their details and pays (checkout_pay.h). Server-rendered
 * HTML (page_render.h) that works without JavaScript: plain forms, POST then
 * 303 then GET.
 *
 * Every answer carries the page's security headers (a CSP without inline
 * script and with frame-ancestors 'none', Referrer-Policy no-referrer,
 * nosniff, no-store). Forms carry a double-submit CSRF token (cookie
 * caisse_csrf). An unknown id, a wrong secret and the id alone are the same
 * plain 404 page. The secret never reaches the access log. */
#ifndef GATEWAY_PAGE_H
#define GATEWAY_PAGE_H

#include <microhttpd.h>

struct db;
struct http_request;

/* public_base_url: the cookie is Secure when it is https. Borrowed. */
void page_init(const char *public_base_url);

/* GET /checkout/{id}/{secret}: the page in the session's state. */
enum MHD_Result page_get(struct http_request *req, struct db *db);
/* POST /checkout/{id}/{secret}: the form (action=update or action=pay). */
enum MHD_Result page_post(struct http_request *req, struct db *db);
/* GET /checkout/{id}/{secret}/status: {"state": ...} for the page's script. */
enum MHD_Result page_status(struct http_request *req, struct db *db);
/* GET /checkout/{id}: the 404 page, always. */
enum MHD_Result page_id_alone(struct http_request *req, struct db *db);
/* GET /checkout/assets/checkout.css and checkout.js: static, cacheable. */
enum MHD_Result page_asset_css(struct http_request *req, struct db *db);
enum MHD_Result page_asset_js(struct http_request *req, struct db *db);

#endif
