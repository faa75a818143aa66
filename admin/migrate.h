/* Schema migrations: numbered SQL files in common/migrations, compiled into
 * the binaries, applied in order, each in its own transaction and recorded in
 * schema_migrations. A Postgres advisory lock serializes concurrent runners,
 * so every replica may run them at start. */
#ifndef CAISSE_MIGRATE_H
#define CAISSE_MIGRATE_H

#include "infra/db.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};

/* Generated at build time from common/migrations/NNNN_name.sql. */
extern const struct migration migrate_files[];
extern const int migrate_file_count;

/* *applied counts the migrations this call applied (0: already up to date). */
int migrate_run(struct db *db, int *applied);

#endif
