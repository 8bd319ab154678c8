-- 0008_outbox_without_notify: the outbox no longer NOTIFYs at commit.
-- NOTIFY serializes the commits of every notifying transaction (PostgreSQL
-- takes one database-wide lock in PreCommit_Notify): measured with pgbench
-- on this machine, a create with its outbox row and the NOTIFY ran at 36% of
-- the create without them. The node whose transaction wrote events now wakes
-- its own relay in-process after the commit (storage/pg/pg_pool.cpp,
-- on_events_committed); the relays of the other nodes poll (ADR-0046).
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS app_outbox_notify();
