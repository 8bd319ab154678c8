-- 0010_guard: the CRM Guard (Block 6, docs/GUARD.md, ADR-0048..0050).
--   guard_budgets      what a profile's or a user's activity may reach in a
--                      sliding window: warn and block thresholds per metric
--   guard_incidents    what the guard saw and did: a budget passed, a
--                      user far above their own baseline, a honeytoken read
--   guard_honeytokens  records nobody has a reason to read
-- The counts themselves live in Redis (every node adds to the same ones);
-- PostgreSQL holds what is configured and what happened.

CREATE TABLE guard_budgets (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  scope      text NOT NULL CHECK (scope ~ '^(profile:[a-z0-9_]{1,64}|user:[0-9a-f-]{36})$'),
  metric     text NOT NULL CHECK (metric IN ('requests', 'reads', 'rows_read', 'distinct_records',
                                             'writes', 'deletes', 'downloads')),
  window_s   integer NOT NULL CHECK (window_s BETWEEN 1 AND 86400),
  warn       bigint NOT NULL CHECK (warn >= 1),
  block      bigint NOT NULL CHECK (block >= warn),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, scope, metric, window_s)
);

CREATE TABLE guard_incidents (
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  user_id        uuid NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('budget', 'baseline', 'honeytoken')),
  budget_id      uuid,          -- kind budget: the budget passed (NULL once it was deleted)
  metric         text NOT NULL,
  observed       bigint NOT NULL,
  threshold      bigint NOT NULL,
  window_s       integer NOT NULL,
  severity       text NOT NULL CHECK (severity IN ('warn', 'block')),
  action         text NOT NULL CHECK (action IN ('flagged', 'blocked')),
  record_entity  text,          -- kind honeytoken: the record read
  record_id      uuid,
  first_trace_id text NOT NULL,
  last_trace_id  text NOT NULL,
  client_addr    text NOT NULL,
  user_agent     text NOT NULL,
  last_seen_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  resolved_at    timestamptz,
  resolved_by    uuid,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
  FOREIGN KEY (tenant_id, budget_id) REFERENCES guard_budgets (tenant_id, id) ON DELETE SET NULL (budget_id)
);
CREATE INDEX guard_incidents_recent ON guard_incidents (tenant_id, created_at DESC, id DESC);
CREATE INDEX guard_incidents_open ON guard_incidents (tenant_id, user_id) WHERE resolved_at IS NULL;

CREATE TABLE guard_honeytokens (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  entity     text NOT NULL CHECK (entity IN ('customers', 'deals', 'products', 'warehouses', 'price-lists')),
  record_id  uuid NOT NULL,
  action     text NOT NULL CHECK (action IN ('warn', 'block')),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, entity, record_id)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['guard_budgets', 'guard_incidents', 'guard_honeytokens'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I USING (tenant_id = app_current_tenant())', t || '_tenant', t);
  END LOOP;
END $$;

-- The defaults of every tenant (also written when a tenant is created,
-- storage/sql/guard_sql.cpp): the baseline profiles' budgets.
CREATE FUNCTION app_guard_defaults(tenant uuid) RETURNS void
  LANGUAGE sql
  AS $$
    INSERT INTO guard_budgets (tenant_id, scope, metric, window_s, warn, block)
    SELECT tenant, 'profile:' || p.name, d.metric, d.window_s, d.warn, d.block
      FROM (VALUES ('admin'), ('manager'), ('sales_rep'), ('viewer')) AS p (name)
     CROSS JOIN (VALUES ('requests', 60, 1800, 6000),
                        ('rows_read', 3600, 50000, 200000),
                        ('distinct_records', 3600, 20000, 100000),
                        ('writes', 60, 600, 3000),
                        ('deletes', 300, 200, 1000),
                        ('downloads', 300, 200, 1000)) AS d (metric, window_s, warn, block)
    ON CONFLICT (tenant_id, scope, metric, window_s) DO NOTHING
  $$;

-- Existing tenants get them too (the migration's role owns the tables).
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE guard_budgets NO FORCE ROW LEVEL SECURITY;
SELECT app_guard_defaults(id) FROM tenants;
ALTER TABLE guard_budgets FORCE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    GRANT EXECUTE ON FUNCTION app_guard_defaults(uuid) TO nextcrm_app;
    -- an incident is evidence: it is resolved, never deleted
    REVOKE DELETE ON guard_incidents FROM nextcrm_app;
  END IF;
END $$;
