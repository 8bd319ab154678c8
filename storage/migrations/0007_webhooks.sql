-- 0007_webhooks: the webhook connector (Block 8, ADR-0047). A subscription
-- belongs to the user who made it; its deliveries are shaped by that user's
-- access profile at delivery time and pause while the user is locked.
--   webhooks            the subscriptions
--   webhook_jobs        one per (subscription, event): written by the
--                       webhooks consumer (idempotent on that pair), claimed
--                       and retried by the delivery workers
--   webhook_deliveries  one row per attempt: the delivery log

CREATE TABLE webhooks (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  id            uuid NOT NULL,
  owner_user_id uuid NOT NULL,
  url           text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  events        text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
  secret        text NOT NULL,  -- whsec_<base64>: needed to sign, so stored as given (never returned)
  enabled       boolean NOT NULL DEFAULT true,
  failures      integer NOT NULL DEFAULT 0,  -- consecutive failed attempts; reset by a success
  disabled_reason text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE webhook_jobs (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  webhook_id      uuid NOT NULL,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  envelope        jsonb NOT NULL,
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (webhook_id, event_id),
  FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_jobs_due ON webhook_jobs (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_deliveries (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  webhook_id  uuid NOT NULL,
  event_id    uuid NOT NULL,
  event_type  text NOT NULL,
  attempt     integer NOT NULL,
  status      integer,          -- the receiver's HTTP status; NULL when none came
  latency_ms  integer NOT NULL,
  error       text,             -- why it failed (timeout, refused, status, address not allowed)
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (tenant_id, webhook_id, at DESC, id DESC);

-- Tenant transactions see their own rows; the bus's own transactions (the
-- delivery workers claim due jobs of every tenant) set app.relay.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhooks', 'webhook_jobs', 'webhook_deliveries'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I USING (tenant_id = app_current_tenant()'
                   ' OR current_setting(''app.relay'', true) = ''on'')', t || '_tenant', t);
  END LOOP;
END $$;
