/* What PostgreSQL's jsonb makes of a JSON value the gateway stores: the text
 * it gives back (metadata::text) writes every number as its exact decimal,
 * with as many decimals as the number was written with (numeric's display
 * scale): jansson's "1e+19" comes back as "10000000000000000000", "1.5e-7"
 * as "0.00000015", "2.0" as "2.0". The harnesses hold the validators to
 * accepting only values whose stored form jansson reads again, as the
 * services do on every read (session_from_row, webhook_endpoint's rows). */
#ifndef CAISSE_FUZZ_JSONB_MODEL_H
#define CAISSE_FUZZ_JSONB_MODEL_H

#include <stdbool.h>

#include <jansson.h>

/* Whether jansson reads back every number of v as jsonb writes it. */
bool jsonb_model_reads_back(const json_t *v);

#endif
