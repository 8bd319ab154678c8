-- 0006_outbox: the transactional outbox of the event bus (Block 8,
-- docs/protocols/NXP-ENVELOPE.md, ADR-0046). A mutation inserts its one
-- envelope row in its own transaction: nothing is published that did not
-- commit, nothing committed is lost. The bus relay (actors/bus) reads rows
-- in `seq` order, XADDs them to the Redis stream and deletes them.

-- The traceparent of the request, as the write context set it; a fresh one
-- when the change has no request (CLI, migrations).
CREATE FUNCTION app_traceparent() RETURNS text
  LANGUAGE sql VOLATILE
  AS $$
    SELECT COALESCE(NULLIF(current_setting('app.traceparent', true), ''),
                    '00-' || replace(gen_random_uuid()::text, '-', '') || '-'
                          || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16) || '-01')
  $$;

CREATE TABLE outbox (
  seq         bigserial PRIMARY KEY,  -- insertion order; per aggregate also commit order (row locks)
  id          uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,  -- the envelope id: the idempotency key
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  source      text NOT NULL DEFAULT 'nextcrm/core',
  type        text NOT NULL CHECK (type ~ '^crm\.[a-z_]+\.[a-z_]+$'),
  subject     text NOT NULL,
  time        timestamptz NOT NULL DEFAULT clock_timestamp(),
  traceparent text NOT NULL DEFAULT app_traceparent(),
  data        jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object')
);

-- A tenant's transactions see and write their own rows; the relay reads and
-- deletes across tenants with app.relay set in its own transactions (the
-- same trust as app.tenant_id: only the server's fixed statements set it).
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_tenant ON outbox
  USING (tenant_id = app_current_tenant() OR current_setting('app.relay', true) = 'on')
  WITH CHECK (tenant_id = app_current_tenant());

-- Wakes the relays at commit (NOTIFY is delivered only if the transaction
-- commits; one per statement, folded by PostgreSQL per transaction).
CREATE FUNCTION app_outbox_notify() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('nxp_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION app_outbox_notify();

-- What each consumer has applied: the effect and this row commit together,
-- so a redelivered event has its effect once.
CREATE TABLE processed_events (
  consumer     text NOT NULL,
  event_id     uuid NOT NULL,
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (consumer, event_id)
);
ALTER TABLE processed_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE processed_events FORCE ROW LEVEL SECURITY;
CREATE POLICY processed_events_tenant ON processed_events
  USING (tenant_id = app_current_tenant())
  WITH CHECK (tenant_id = app_current_tenant());

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    GRANT EXECUTE ON FUNCTION app_traceparent() TO nextcrm_app;
    -- rows are written once and deleted when published: never updated
    REVOKE UPDATE ON outbox FROM nextcrm_app;
    REVOKE UPDATE, DELETE ON processed_events FROM nextcrm_app;
  END IF;
END $$;
