/* The hosted checkout page's form: its application/x-www-form-urlencoded body
 * decoded into fixed fields (no allocation), and the tokens the page puts in
 * it (the CSRF double-submit token, the attempt key). Hostile bytes are the
 * normal case here: any input ends in fields that are valid UTF-8 without
 * control characters, or in a refusal. */
#ifndef GATEWAY_PAGE_FORM_H
#define GATEWAY_PAGE_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* 24 random bytes in base64url: 32 characters. */
#define PAGE_FORM_TOKEN_LEN 32

/* Each field's value, "" when absent; the sizes bound what a field may hold
 * (a longer value is refused, never cut). */
struct page_form {
    char action[16];
    char csrf[PAGE_FORM_TOKEN_LEN + 1];
    char attempt[PAGE_FORM_TOKEN_LEN + 1];
    char lang[8];
    char quantity[16];
    char coupon[65];
    char email[255];
    char name[201];
    char phone[33];
    char line1[201];
    char city[101];
    char postal_code[21];
    char country[3];
    char method[16];
    char account[33];
};

/* Decodes body (len bytes: '+' is a space, %XX a byte) into form. Names the
 * page does not know are skipped. C_ERR (form as it was, err naming the field):
 * a known name given twice, a value too long for its field, a value that is
 * not UTF-8 or holds a control character (tabs and line ends included), a
 * malformed escape, more than 64 fields. */
int page_form_decode(const char *body, size_t len, struct page_form *form, struct error *err);

/* A fresh random token (getrandom) into out. C_ERR: no randomness. */
int page_form_token(char out[PAGE_FORM_TOKEN_LEN + 1], struct error *err);
/* Whether s is a token's shape: PAGE_FORM_TOKEN_LEN base64url characters. */
bool page_form_token_is_valid(const char *s);
/* Whether a form's token is the cookie's: both PAGE_FORM_TOKEN_LEN base64url
 * characters, compared in constant time. */
bool page_form_csrf_matches(const char *cookie, const char *form_token);

#endif
