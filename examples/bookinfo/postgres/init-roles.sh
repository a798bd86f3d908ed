#!/bin/sh
# Runs once, when the official postgres image initialises an empty data directory
# (/docker-entrypoint-initdb.d). The podflow role owns the database (its migrations create the
# schema, tables and node graph functions); grafana may only read what podflow creates.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v podflow_password="$PODFLOW_PASSWORD" -v grafana_password="$GRAFANA_PASSWORD" <<'SQL'
CREATE ROLE podflow LOGIN PASSWORD :'podflow_password';
CREATE ROLE grafana LOGIN PASSWORD :'grafana_password';
ALTER DATABASE podflow OWNER TO podflow;
CREATE SCHEMA podflow AUTHORIZATION podflow;
GRANT USAGE ON SCHEMA podflow TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE podflow IN SCHEMA podflow GRANT SELECT ON TABLES TO grafana;
SQL
