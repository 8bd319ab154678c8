-- 0002_identity: tenants, roles, users, sessions (Block 2).
-- Every tenant-owned table carries tenant_id and is protected by FORCE'd
-- row-level security on app_current_tenant(); the queries carry the tenant
-- predicate as well, so a forgotten predicate fails closed.

CREATE TABLE tenants (
  id         uuid PRIMARY KEY,
  slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
-- A tenant sees its own row. Login resolves a slug before the tenant is
-- known: it sets app.tenant_slug in its transaction and sees that one row.
CREATE POLICY tenant_self ON tenants
  USING (id = app_current_tenant()
         OR slug = NULLIF(current_setting('app.tenant_slug', true), ''));

CREATE TABLE roles (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  permissions text[] NOT NULL,
  builtin     boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE users (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  email          text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  password_hash  text NOT NULL,
  role           text NOT NULL,
  access_profile text NOT NULL,
  locked         boolean NOT NULL DEFAULT false,
  locked_at      timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  version        integer NOT NULL DEFAULT 1,
  FOREIGN KEY (tenant_id, role) REFERENCES roles (tenant_id, name),
  UNIQUE (tenant_id, id)
);
-- Emails are unique per tenant, case-insensitively.
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, lower(email));
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION app_touch_row();

CREATE TABLE sessions (
  id             uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  user_id        uuid NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  revoked_reason text,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX sessions_live_by_user ON sessions (tenant_id, user_id) WHERE revoked_at IS NULL;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['roles', 'users', 'sessions'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant())', t);
  END LOOP;
END $$;
