#include "currency.h"

#include <string.h>

/* Sorted by code. West and Central African currencies first among our merchants'. */
static const struct currency currency_table[] = {
    {"EUR", 2, "Euro"},
    {"GBP", 2, "Pound sterling"},
    {"GHS", 2, "Ghanaian cedi"},
    {"GNF", 0, "Guinean franc"},
    {"KES", 2, "Kenyan shilling"},
    {"MAD", 2, "Moroccan dirham"},
    {"NGN", 2, "Nigerian naira"},
    {"RWF", 0, "Rwandan franc"},
    {"UGX", 0, "Ugandan shilling"},
    {"USD", 2, "United States dollar"},
    {"XAF", 0, "Central African CFA franc"},
    {"XOF", 0, "West African CFA franc"},
    {"ZAR", 2, "South African rand"},
};

const struct currency *currency_find(const char *code)
{
    if (code == NULL || strlen(code) != 3)
        return NULL;
    for (size_t i = 0; i < currency_count(); i++) {
        if (strcmp(currency_table[i].code, code) == 0)
            return &currency_table[i];
    }
    return NULL;
}

size_t currency_count(void)
{
    return sizeof(currency_table) / sizeof(currency_table[0]);
}

const struct currency *currency_at(size_t i)
{
    return i < currency_count() ? &currency_table[i] : NULL;
}
