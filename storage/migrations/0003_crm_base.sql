-- 0003_crm_base: the CRM entities, access profiles, the audit log and
-- attachment references (Blocks 3 and 5). The columns follow the entity
-- registry in protocols/entity.cpp; the statements in storage/entity_sql.cpp
-- are generated from the same registry.
--
-- Conventions: every table has tenant_id and FORCE'd row-level security;
-- primary keys are (tenant_id, id) so every lookup and foreign key stays
-- inside one tenant; money is numeric(18,2); version starts at 1 and grows
-- with every UPDATE (app_touch_row).

CREATE TABLE customers (
  tenant_id      uuid NOT NULL REFERENCES tenants (id),
  id             uuid NOT NULL,
  name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  email          text CHECK (char_length(email) <= 254),
  phone          text CHECK (char_length(phone) <= 40),
  status         text NOT NULL DEFAULT 'lead' CHECK (status IN ('lead', 'active', 'churned')),
  owner_id       uuid,
  annual_revenue numeric(18, 2) CHECK (annual_revenue >= 0),
  tax_id         text CHECK (char_length(tax_id) <= 64),
  notes          text CHECK (char_length(notes) <= 10000),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  version        bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT customers_owner_id_fkey FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);

CREATE TABLE deals (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  customer_id uuid NOT NULL,
  title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  stage       text NOT NULL DEFAULT 'prospect'
              CHECK (stage IN ('prospect', 'qualified', 'proposal', 'won', 'lost')),
  amount      numeric(18, 2) CHECK (amount >= 0),
  currency    char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  close_date  date,
  owner_id    uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT deals_customer_id_fkey FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id),
  CONSTRAINT deals_owner_id_fkey FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX deals_by_customer ON deals (tenant_id, customer_id);

CREATE TABLE products (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  sku         text NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 64),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description text CHECK (char_length(description) <= 10000),
  cost        numeric(18, 2) CHECK (cost >= 0),
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT products_sku_key UNIQUE (tenant_id, sku)
);

CREATE TABLE warehouses (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL,
  code       text NOT NULL CHECK (char_length(code) BETWEEN 1 AND 32),
  name       text CHECK (char_length(name) <= 200),
  address    text CHECK (char_length(address) <= 1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT warehouses_code_key UNIQUE (tenant_id, code)
);

-- Items live in the row (ADR-0032): one value to validate, audit and read;
-- products named by items are checked by price_lists_items_check and kept
-- from deletion by products_in_price_lists.
CREATE TABLE price_lists (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL,
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  currency   char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  valid_from date,
  valid_to   date,
  items      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(items) = 'array' AND jsonb_array_length(items) <= 1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT price_lists_valid_to_range CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);
CREATE INDEX price_lists_items ON price_lists USING gin (items jsonb_path_ops);

-- Every product an item names exists in the tenant (a foreign key into a
-- jsonb array): 23503 with the constraint name the API maps to "items".
CREATE FUNCTION app_price_list_items_check() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE missing uuid;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.items = OLD.items THEN
    RETURN NEW;
  END IF;
  SELECT (i ->> 'product_id')::uuid INTO missing
    FROM jsonb_array_elements(NEW.items) i
   WHERE NOT EXISTS (SELECT 1 FROM products p
                      WHERE p.tenant_id = NEW.tenant_id AND p.id = (i ->> 'product_id')::uuid
                        FOR KEY SHARE)
   LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE foreign_key_violation USING CONSTRAINT = 'price_lists_items_fkey',
      MESSAGE = 'price list item names a product that does not exist';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER price_lists_items_check BEFORE INSERT OR UPDATE ON price_lists
  FOR EACH ROW EXECUTE FUNCTION app_price_list_items_check();

-- A product named by a price list stays (ON DELETE RESTRICT of the jsonb key).
CREATE FUNCTION app_product_in_price_lists() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM price_lists pl
              WHERE pl.tenant_id = OLD.tenant_id
                AND pl.items @> jsonb_build_array(jsonb_build_object('product_id', OLD.id::text))) THEN
    RAISE foreign_key_violation USING CONSTRAINT = 'price_lists_items_fkey',
      MESSAGE = 'the product is still named by a price list';
  END IF;
  RETURN OLD;
END $$;
CREATE TRIGGER products_in_price_lists BEFORE DELETE ON products
  FOR EACH ROW EXECUTE FUNCTION app_product_in_price_lists();

CREATE TABLE attachments (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL,
  entity     text NOT NULL,
  entity_id  uuid NOT NULL,
  content_id uuid NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT attachments_content_key UNIQUE (tenant_id, entity, entity_id, content_id)
);

-- Field-level security: per entity a read and a write allowlist.
CREATE TABLE access_profiles (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  name       text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  entities   jsonb NOT NULL CHECK (jsonb_typeof(entities) = 'object'),
  builtin    boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE audit_logs (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  at            timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor_user_id uuid,
  entity        text NOT NULL,
  entity_id     uuid NOT NULL,
  action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  changes       jsonb NOT NULL,
  trace_id      text,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_logs_recent ON audit_logs (tenant_id, at DESC, id DESC);
CREATE INDEX audit_logs_by_record ON audit_logs (tenant_id, entity, entity_id, at DESC);

-- One audit row per INSERT/UPDATE/DELETE of an entity row, in the writing
-- transaction: a failed write leaves neither. The actor and the trace come
-- from app.user_id and app.trace_id, set by the same transaction. changes
-- holds the fields whose value differs, {"field":{"from","to"}}; numbers are
-- money and are kept as decimal strings. TG_ARGV[0]: the entity's URL name.
CREATE FUNCTION app_audit_row() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
DECLARE
  old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
  new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
  changes jsonb := '{}';
  k text;
  a jsonb;
  b jsonb;
BEGIN
  FOR k IN SELECT jsonb_object_keys(COALESCE(new_row, old_row)) LOOP
    CONTINUE WHEN k IN ('tenant_id', 'id', 'created_at', 'updated_at', 'version');
    a := COALESCE(old_row -> k, 'null');
    b := COALESCE(new_row -> k, 'null');
    CONTINUE WHEN a = b;
    IF jsonb_typeof(a) = 'number' THEN a := to_jsonb(a #>> '{}'); END IF;
    IF jsonb_typeof(b) = 'number' THEN b := to_jsonb(b #>> '{}'); END IF;
    changes := changes || jsonb_build_object(k, jsonb_build_object('from', a, 'to', b));
  END LOOP;
  INSERT INTO audit_logs (tenant_id, actor_user_id, entity, entity_id, action, changes, trace_id)
  VALUES (COALESCE(NEW.tenant_id, OLD.tenant_id),
          NULLIF(current_setting('app.user_id', true), '')::uuid,
          TG_ARGV[0], COALESCE(NEW.id, OLD.id),
          CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
          changes,
          NULLIF(current_setting('app.trace_id', true), ''));
  RETURN NULL;
END $$;

DO $$
DECLARE
  t text;
  e text;
BEGIN
  FOR t, e IN VALUES ('customers', 'customers'), ('deals', 'deals'), ('products', 'products'),
                     ('warehouses', 'warehouses'), ('price_lists', 'price-lists') LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION app_touch_row()',
                   t || '_touch', t);
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I'
                   ' FOR EACH ROW EXECUTE FUNCTION app_audit_row(%L)', t || '_audit', t, e);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['customers', 'deals', 'products', 'warehouses', 'price_lists',
                           'attachments', 'access_profiles', 'audit_logs'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant())', t);
  END LOOP;
END $$;

CREATE TRIGGER access_profiles_touch BEFORE UPDATE ON access_profiles
  FOR EACH ROW EXECUTE FUNCTION app_touch_row();

-- The audit log is append-only for the application.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nextcrm_app') THEN
    REVOKE UPDATE, DELETE ON audit_logs FROM nextcrm_app;
  END IF;
END $$;
