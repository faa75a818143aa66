"""Schemathesis hooks for caisse (tests/schemathesis/run.sh loads them).

A schema-valid request may still be refused with 400 for the few rules the
OpenAPI document states in words because JSON Schema cannot express them (or
only by repeating a pattern on every string): no string or key holds U+0000, a
cursor must name one of the tenant's own objects, expires_at must fall between
30 minutes and 24 hours from now, a webhook URL's host must resolve to an
allowed address, a bracketed IPv6 host must be a valid address, a price's
custom_unit_amount.maximum must be at least its minimum; a coupon's
percent_off has at most 2 decimals, its valid_until is after its valid_from,
its applies_to names products of the tenant and its code is not another
coupon's (409); a session's coupon_code names a coupon of the tenant that
applies to it; and the catalog's references: an id in a body (a session's
product_id, price_id, customer_id) must name an object of the tenant, in a
state and with amounts that fit (an active product, a price of that product,
an amount that is the price's; a session's customer_id, a renewal's
subscription). Those refusals, and only those (matched by their documented
message), are not failures of positive_data_acceptance; every other 400 to a
schema-valid request still is. A metadata number out of int64's range is
refused too, but only when the request really holds one: the generator
sometimes goes past the schema's own minimum and maximum there.
"""
import json
import re

import schemathesis

DOCUMENTED_REFUSALS = (
    "Request body must not contain NUL characters",
    "starting_after must be the id of one of your ",
    "starting_after must be the id of one of this endpoint's ",
    "expires_at must be between 30 minutes and 24 hours from now",
    "url host does not resolve",
    "url host did not resolve within ",
    "url resolves to a forbidden address",
    "custom_unit_amount.maximum must be at least custom_unit_amount.minimum",
    "percent_off must have at most 2 decimal places",
    "valid_until must be after valid_from",
    "No coupon with code ",
    "Coupon ",
)


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CATALOG_REFUSALS = re.compile(
    r"^[a-z_]+ " + UUID + r" (not found$|is archived: |is a price of another product$"
    r"|is not a price of product_id )"
    r"|^Price " + UUID + r" is the default price of product "
    r"|^Product has no default price; give price_id or amount$"
    r"|^amount [0-9]+ does not match price " + UUID + ": "
    r"|^amount [0-9]+ is outside the range of pay-what-you-want price " + UUID + ": "
    r"|^amount is required with pay-what-you-want price " + UUID + ": "
    r"|^currency_code [A-Z]{3} does not match the currency of price " + UUID + ": "
    r"|^unit_amount [0-9]+ x quantity [0-9]+ = [0-9]+ exceeds the maximum amount "
)

PRODUCT_NOT_FOUND = re.compile(r"^applies_to\.product_ids [0-9a-f-]{36} not found$")


BRACKETED_HOST = re.compile(r"^[A-Za-z]+://\[")
# "<field> <id> not found": an id in a body that names no object of the tenant.
UNKNOWN_REFERENCE = re.compile(r"^[a-z_]+_id [0-9a-f-]{36} not found$")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _metadata_out_of_range(case):
    body = case.body if isinstance(case.body, dict) else {}
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return False
    return any(
        isinstance(v, (int, float)) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX
        for v in metadata.values()
    )


def _bracketed_url(case):
    body = case.body if isinstance(case.body, dict) else {}
    return isinstance(body.get("url"), str) and BRACKETED_HOST.match(body["url"]) is not None


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    if getattr(failure, "code", None) != "ST202" or response.status_code not in (400, 409):
        return True
    try:
        message = json.loads(response.content).get("message", "")
    except (ValueError, AttributeError):
        return True
    if response.status_code == 409:
        return not (message.startswith("Coupon with code ") and message.endswith(" already exists"))
    if message == "url has an invalid host" and _bracketed_url(case):
        return False
    if CATALOG_REFUSALS.match(message) or PRODUCT_NOT_FOUND.match(message):
        return False
    if UNKNOWN_REFERENCE.match(message):
        return False
    if message.startswith("metadata numbers must be from ") and _metadata_out_of_range(case):
        return False
    return not any(message.startswith(m) for m in DOCUMENTED_REFUSALS)
