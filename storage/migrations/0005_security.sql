-- 0005: the security round (issue 9).
--
-- 1. Session epochs. users.session_epoch is bumped by every change that must
--    end the user's sessions (lock, a password set by someone else); a
--    session row carries the epoch of its user when it was opened, and a
--    session is valid only while the two are equal. A login that raced such a
--    change opens a session that is already dead, whatever order the two
--    transactions committed in.
-- 2. The client address (as the trusted gateway reported it) is kept in
--    every audit row, from app.client_addr set by the writing transaction.
-- 3. Write implies read: an access profile may not write a field it cannot
--    read (a write-only field is an oracle: "does a record with this value
--    exist?"). Existing profiles lose their write-only fields (never gain a
--    readable one: nothing becomes visible that an admin had hidden); the
--    CHECK keeps it so.

ALTER TABLE users ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_epoch bigint NOT NULL DEFAULT 0;

ALTER TABLE audit_logs ADD COLUMN client_addr inet;

CREATE OR REPLACE FUNCTION app_audit_row() RETURNS trigger
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
  INSERT INTO audit_logs (tenant_id, actor_user_id, entity, entity_id, action, changes, trace_id, client_addr)
  VALUES (COALESCE(NEW.tenant_id, OLD.tenant_id),
          NULLIF(current_setting('app.user_id', true), '')::uuid,
          TG_ARGV[0], COALESCE(NEW.id, OLD.id),
          CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END,
          changes,
          NULLIF(current_setting('app.trace_id', true), ''),
          NULLIF(current_setting('app.client_addr', true), '')::inet);
  RETURN NULL;
END $$;

-- entities: {"customers":{"read":[...],"write":[...]},...}; every written
-- name must be read too ("id" is always readable).
CREATE FUNCTION app_profile_write_only(entities jsonb) RETURNS boolean
  LANGUAGE sql IMMUTABLE
  AS $$
    SELECT EXISTS (
      SELECT 1 FROM jsonb_each(entities) e,
             jsonb_array_elements(CASE jsonb_typeof(e.value -> 'write') WHEN 'array' THEN e.value -> 'write'
                                  ELSE '[]' END) w
       WHERE w <> '"id"'
         AND NOT (CASE jsonb_typeof(e.value -> 'read') WHEN 'array' THEN e.value -> 'read' ELSE '[]' END) @> w)
  $$;

-- The update must see every tenant's rows: row-level security is lifted for
-- this transaction only (the owner runs migrations; FORCE is back below).
ALTER TABLE access_profiles NO FORCE ROW LEVEL SECURITY;
UPDATE access_profiles p
   SET entities = (
     SELECT jsonb_object_agg(e.key,
              e.value || jsonb_build_object('write', COALESCE((
                SELECT jsonb_agg(w) FROM jsonb_array_elements(e.value -> 'write') w
                 WHERE w = '"id"' OR (e.value -> 'read') @> w), '[]'::jsonb)))
       FROM jsonb_each(p.entities) e)
 WHERE app_profile_write_only(p.entities);
ALTER TABLE access_profiles FORCE ROW LEVEL SECURITY;

ALTER TABLE access_profiles
  ADD CONSTRAINT access_profiles_write_implies_read CHECK (NOT app_profile_write_only(entities));
