#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates the roles Next_CRM expects (the same
# as deploy/lib.sh pg_create_roles for the dev stack):
#   nextcrm_owner  owns the database `nextcrm`, runs the migrations
#   nextcrm_app    the server's role: no superuser, no BYPASSRLS
set -euo pipefail
: "${NEXTCRM_OWNER_PASSWORD:?NEXTCRM_OWNER_PASSWORD is not set}"
: "${NEXTCRM_APP_PASSWORD:?NEXTCRM_APP_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner_pw="$NEXTCRM_OWNER_PASSWORD" -v app_pw="$NEXTCRM_APP_PASSWORD" <<'SQL'
CREATE ROLE nextcrm_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD :'owner_pw';
CREATE ROLE nextcrm_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'app_pw';
CREATE DATABASE nextcrm OWNER nextcrm_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE nextcrm FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE nextcrm TO nextcrm_app;
\connect nextcrm
GRANT USAGE ON SCHEMA public TO nextcrm_app;
SQL
