-- 0009_outbox_lean: one index on the outbox, not two. Every event is one
-- insert and one delete of an outbox row; the unique index on the envelope
-- id doubled the index work of both (ADR-0046 figures). The id is a fresh
-- gen_random_uuid() per row and consumers dedupe on it downstream; nothing
-- reads the outbox by id.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_id_key;
