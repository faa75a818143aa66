#!/bin/sh
# The services' LOGIN users for docker-compose.yml's PostgreSQL, run once by the image's
# entrypoint when the data directory is first initialized (/docker-entrypoint-initdb.d).
# Their group roles are made here too, empty: migration 0014 finds them and grants them
# their privileges. Passwords from the environment (compose passes CAISSE_DB_PASSWORD_*).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v gateway="$CAISSE_DB_PASSWORD_GATEWAY" -v session_worker="$CAISSE_DB_PASSWORD_SESSION_WORKER" \
  -v expiry_worker="$CAISSE_DB_PASSWORD_EXPIRY_WORKER" -v webhook_worker="$CAISSE_DB_PASSWORD_WEBHOOK_WORKER" <<'SQL'
CREATE ROLE caisse_gateway NOLOGIN;
CREATE ROLE caisse_session_worker NOLOGIN;
CREATE ROLE caisse_expiry_worker NOLOGIN;
CREATE ROLE caisse_webhook_worker NOLOGIN;
CREATE ROLE caisse_gateway_login LOGIN PASSWORD :'gateway' IN ROLE caisse_gateway;
CREATE ROLE caisse_session_worker_login LOGIN PASSWORD :'session_worker' IN ROLE caisse_session_worker;
CREATE ROLE caisse_expiry_worker_login LOGIN PASSWORD :'expiry_worker' IN ROLE caisse_expiry_worker;
CREATE ROLE caisse_webhook_worker_login LOGIN PASSWORD :'webhook_worker' IN ROLE caisse_webhook_worker;
SQL
