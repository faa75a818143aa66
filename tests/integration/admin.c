/* caisse-admin set-display-name against the real database: what it stores is what
 * tenant_display_name (the hosted checkout page's source) gives back, clearing it falls
 * back to the organization's name, and every refusal (usage, unknown organization,
 * oversized or invalid text) leaves the stored value as it was. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "infra/db.h"
#include "model/tenant.h"
#include "support.h"

static char *admin_output(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", test_env("CAISSE_TEST_ADMIN"), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512] = "";
    char *got = fgets(line, sizeof(line), p);
    cr_assert_eq(pclose(p), 0, "caisse-admin %s failed", args);
    cr_assert_not_null(got, "caisse-admin %s printed nothing", args);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/* The exit status of caisse-admin with args (its output thrown away). */
static int admin_status(const char *args)
{
    return test_shell("%s %s >/dev/null 2>&1", test_env("CAISSE_TEST_ADMIN"), args);
}

static char *new_org(const char *name)
{
    char args[256];
    snprintf(args, sizeof(args), "create-org --name '%s' --currency XOF", name);
    return admin_output(args);
}

/* What the page would show for org, read with the model function the page calls. */
static void shown_name(const char *org, char *out, size_t outlen)
{
    struct db db;
    cr_assert_eq(db_init(&db, test_env("CAISSE_DATABASE_URL")), C_OK);
    int rc = tenant_display_name(&db, org, out, outlen);
    db_close(&db);
    cr_assert_eq(rc, C_OK, "tenant_display_name(%s) failed", org);
}

static char *stored_display_name(const char *org)
{
    return test_sql_value("SELECT coalesce(display_name, '<null>') FROM organizations"
                          " WHERE id = $1",
                          org);
}

Test(admin, set_display_name_is_what_the_page_shows_and_clearing_it_shows_the_name)
{
    char *org = new_org("Boutique Legal Name SARL");
    char shown[256];
    shown_name(org, shown, sizeof(shown));
    cr_assert_str_eq(shown, "Boutique Legal Name SARL", "no display name: the name");

    char args[512];
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name 'Chez Awa — Dakar'",
             org);
    char *said = admin_output(args);
    cr_assert(strstr(said, org) != NULL && strstr(said, "Chez Awa — Dakar") != NULL, "%s", said);
    free(said);
    shown_name(org, shown, sizeof(shown));
    cr_assert_str_eq(shown, "Chez Awa — Dakar");

    /* The --opt=VALUE form, like every verb, and a second change replaces the first. */
    snprintf(args, sizeof(args), "set-display-name --org=%s --display-name='Awa & Fils'", org);
    free(admin_output(args));
    shown_name(org, shown, sizeof(shown));
    cr_assert_str_eq(shown, "Awa & Fils");

    snprintf(args, sizeof(args), "set-display-name --org %s --display-name ''", org);
    said = admin_output(args);
    cr_assert(strstr(said, "its name") != NULL, "%s", said);
    free(said);
    char *stored = stored_display_name(org);
    cr_assert_str_eq(stored, "<null>", "clearing stores NULL, never ''");
    free(stored);
    shown_name(org, shown, sizeof(shown));
    cr_assert_str_eq(shown, "Boutique Legal Name SARL");
    free(org);
}

Test(admin, set_display_name_refusals_change_nothing)
{
    char *org = new_org("Display name refusals");
    char args[1024];
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name Kept", org);
    free(admin_output(args));

    snprintf(args, sizeof(args), "set-display-name --org %s", org);
    cr_assert_eq(admin_status(args), 2, "--display-name is required");
    cr_assert_eq(admin_status("set-display-name --display-name X"), 2, "--org is required");
    cr_assert_eq(admin_status("set-display-name --org not-a-uuid --display-name X"), 2);
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name X --colour red", org);
    cr_assert_eq(admin_status(args), 2, "an unknown option");
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name %0201d", org, 0);
    cr_assert_eq(admin_status(args), 2, "201 characters");
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name $(printf 'a\\377b')",
             org);
    cr_assert_eq(admin_status(args), 2, "not UTF-8");
    cr_assert_eq(admin_status("set-display-name --org 00000000-0000-7000-8000-000000000000"
                              " --display-name X"),
                 1, "an unknown organization");

    char *stored = stored_display_name(org);
    cr_assert_str_eq(stored, "Kept");
    free(stored);

    /* 200 characters (2 bytes each) is the limit, not past it. */
    char longest[512];
    size_t at = 0;
    for (int i = 0; i < 200; i++) {
        memcpy(longest + at, "é", 2);
        at += 2;
    }
    longest[at] = '\0';
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name '%s'", org, longest);
    free(admin_output(args));
    stored = stored_display_name(org);
    cr_assert_str_eq(stored, longest);
    free(stored);
    free(org);
}

Test(admin, tenant_display_name_cuts_between_characters_and_fails_for_an_unknown_org)
{
    char *org = new_org("Cut name");
    char args[512];
    snprintf(args, sizeof(args), "set-display-name --org %s --display-name 'Café'", org);
    free(admin_output(args));
    /* "Café" is 5 bytes: 5 bytes of room keep "Caf", never half of "é". */
    char shown[5] = "";
    shown_name(org, shown, sizeof(shown));
    cr_assert_str_eq(shown, "Caf");

    struct db db;
    cr_assert_eq(db_init(&db, test_env("CAISSE_DATABASE_URL")), C_OK);
    char untouched[32] = "untouched";
    cr_assert_eq(tenant_display_name(&db, "00000000-0000-7000-8000-000000000000", untouched,
                                     sizeof(untouched)),
                 C_ERR);
    cr_assert_str_eq(untouched, "untouched", "out is left alone on failure");
    db_close(&db);
    free(org);
}

Test(admin, help_documents_set_display_name)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s --help", test_env("CAISSE_TEST_ADMIN"));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    cr_assert_eq(pclose(p), 0);
    cr_assert(strstr(buf, "set-display-name --org ORG_ID --display-name TEXT") != NULL, "%s", buf);
    cr_assert_eq(admin_status("set-display-name --help"), 0, "a verb's --help helps");
}
