-- 0001_baseline: conventions every later migration relies on.
-- Runs as the owner role (nextcrm_owner). The application connects as
-- nextcrm_app, which owns nothing and cannot bypass row-level security.

-- The tenant of the current transaction, as set by the storage pool with
-- set_config('app.tenant_id', $1, true). NULL (never an error) when unset,
-- so a policy built on it returns no rows instead of failing.
CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- Keeps updated_at and version honest on every UPDATE of an entity table.
CREATE OR REPLACE FUNCTION app_touch_row() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;

-- The application role gets DML on every table and sequence the owner
-- creates from now on, never DDL. Tenant tables add FORCE RLS themselves.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    GRANT USAGE ON SCHEMA public TO nextcrm_app;
    GRANT EXECUTE ON FUNCTION app_current_tenant() TO nextcrm_app;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
      GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO nextcrm_app;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
      GRANT USAGE, SELECT ON SEQUENCES TO nextcrm_app;
  ELSE
    RAISE WARNING 'role nextcrm_app does not exist; grants skipped';
  END IF;
END $$;
