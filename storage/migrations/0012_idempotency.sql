-- 0012: Idempotency-Key on the writes of CRM records (docs/IDEMPOTENCY.md,
-- ADR-0054). A key names one write of one user for 24 hours: its row is
-- inserted by the write's own transaction (the key exists if and only if the
-- write committed), and the answer is stored right after, before it is sent.
-- A row without an answer is a write whose node died between its commit and
-- its answer: a retry rebuilds the answer from the record.
CREATE TABLE idempotency_keys (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  user_id     uuid NOT NULL,
  key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  fingerprint text NOT NULL,          -- SHA-256 (hex) of method, target and body
  route       text NOT NULL,          -- the route's pattern
  resource    text NOT NULL,          -- '<entity path>/<record id>'
  status      integer,                -- the answer, once stored
  headers     text,                   -- "Name: value" lines (Content-Type, ETag, Location)
  body        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, key)
);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
-- Expired keys of every tenant are removed by the nodes' sweeps
-- (app.idempotency_sweep set in their own transaction).
CREATE POLICY idempotency_keys_tenant ON idempotency_keys
  USING (tenant_id = app_current_tenant() OR current_setting('app.idempotency_sweep', true) = 'on');
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
