-- 0011_content: the content pipeline (Block 7, docs/CONTENT.md, ADR-0051..0053).
--   content_settings    per tenant: upload cap, allowed types, archives, PDF
--                       rasterizing, how long a quarantined original is kept
--   content_items       one upload and its job: quarantined -> processing ->
--                       safe | rejected, the lease of the node working on it,
--                       the safe artifact (content-addressed by its SHA-256)
--   content_token_uses  the nonces of one-time download tokens already redeemed
-- The bytes live on disk (quarantine and safe store); PostgreSQL holds what
-- is known about them.

CREATE TABLE content_settings (
  tenant_id         uuid PRIMARY KEY REFERENCES tenants (id),
  max_upload_bytes  bigint NOT NULL DEFAULT 67108864 CHECK (max_upload_bytes BETWEEN 1 AND 1099511627776),
  allowed_types     text[] NOT NULL DEFAULT ARRAY['image/jpeg', 'image/png', 'image/webp', 'image/gif',
                                                  'application/pdf', 'text/plain', 'text/csv'],
  archives          boolean NOT NULL DEFAULT false,
  pdf_rasterize     boolean NOT NULL DEFAULT false,
  retain_original_s integer NOT NULL DEFAULT 0 CHECK (retain_original_s BETWEEN 0 AND 31536000),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE content_items (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL,
  status          text NOT NULL CHECK (status IN ('quarantined', 'processing', 'safe', 'rejected')),
  reason          text,           -- rejected: why ('scan.infected', 'type.not_allowed', ...)
  detail          text,           -- rejected: the human sentence
  filename        text NOT NULL,  -- as declared (path parts and control characters removed), never trusted
  declared_mime   text NOT NULL,
  sniffed_mime    text,           -- what the bytes are (libmagic)
  size            bigint NOT NULL,
  sha256          text NOT NULL,  -- of the upload as received
  quarantine_name text,           -- the random file name in the quarantine; NULL once deleted
  safe_mime       text,
  safe_size       bigint,
  safe_sha256     text,           -- the safe artifact's name in the store
  created_by      uuid NOT NULL,
  traceparent     text NOT NULL,  -- of the upload: every event of the job carries its trace
  attempts        integer NOT NULL DEFAULT 0,
  lease_owner     text,           -- the node working on it, until lease_until
  lease_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at    timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
  CHECK (status <> 'safe' OR (safe_sha256 IS NOT NULL AND safe_mime IS NOT NULL AND safe_size IS NOT NULL))
);
-- the jobs to run or resume (every node's pool claims from here)
CREATE INDEX content_items_open ON content_items (lease_until NULLS FIRST)
  WHERE status IN ('quarantined', 'processing');

CREATE TABLE content_token_uses (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  nonce      text NOT NULL,
  content_id uuid NOT NULL,
  used_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL,  -- after this the token is dead anyway: the row may go
  PRIMARY KEY (tenant_id, nonce)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['content_settings', 'content_items', 'content_token_uses'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
  END LOOP;
END $$;
CREATE POLICY content_settings_tenant ON content_settings USING (tenant_id = app_current_tenant());
-- The pools also remove used nonces past their token's expiry, every tenant's.
CREATE POLICY content_token_uses_tenant ON content_token_uses
  USING (tenant_id = app_current_tenant() OR current_setting('app.content_pool', true) = 'on');
CREATE INDEX content_token_uses_expiry ON content_token_uses (expires_at);
-- A node's content pool finds open jobs of every tenant with app.content_pool
-- set in its own claim transaction (like the relay's app.relay, 0006).
CREATE POLICY content_items_tenant ON content_items
  USING (tenant_id = app_current_tenant() OR current_setting('app.content_pool', true) = 'on');

-- An attachment names a content item of its tenant (rows from before this
-- migration named nothing checked: they are kept, unchecked).
ALTER TABLE attachments
  ADD CONSTRAINT attachments_content_fkey FOREIGN KEY (tenant_id, content_id)
  REFERENCES content_items (tenant_id, id) NOT VALID;

-- content:manage (the settings) joins the admin role of every tenant.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = permissions || ARRAY['content:manage']
 WHERE name = 'admin' AND NOT ('content:manage' = ANY (permissions));
ALTER TABLE roles FORCE ROW LEVEL SECURITY;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    -- an item is the record of what was uploaded and what became of it
    REVOKE DELETE ON content_items FROM nextcrm_app;
  END IF;
END $$;

-- Attaching content to a record is audited like a record's change (the
-- audit row names the attachment: entity 'attachments', its id).
CREATE TRIGGER attachments_audit AFTER INSERT OR UPDATE OR DELETE ON attachments
  FOR EACH ROW EXECUTE FUNCTION app_audit_row('attachments');

-- The pipeline's events are content.item.<status> and content.settings.updated
-- (docs/protocols/NXP-ENVELOPE.md): the outbox takes the content area too.
ALTER TABLE outbox DROP CONSTRAINT outbox_type_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_type_check CHECK (type ~ '^(crm|content)\.[a-z_]+\.[a-z_]+$');
