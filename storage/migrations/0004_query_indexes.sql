-- 0004_query_indexes: the indexes that keep the query DSL's common shapes
-- (Block 4) on index scans: tenant + status, tenant + created_at (the
-- default order, newest first, with the id tie-breaker), tenant + name
-- prefix (starts_with / LIKE 'abc%': text_pattern_ops works under any
-- collation), tenant + owner. Checked with EXPLAIN in
-- test/integration/test_query.py.

CREATE INDEX customers_by_status ON customers (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX customers_by_created ON customers (tenant_id, created_at DESC, id DESC);
CREATE INDEX customers_by_name ON customers (tenant_id, name text_pattern_ops);
CREATE INDEX customers_by_owner ON customers (tenant_id, owner_id);

CREATE INDEX deals_by_stage ON deals (tenant_id, stage, created_at DESC, id DESC);
CREATE INDEX deals_by_created ON deals (tenant_id, created_at DESC, id DESC);
CREATE INDEX deals_by_owner ON deals (tenant_id, owner_id);

CREATE INDEX products_by_created ON products (tenant_id, created_at DESC, id DESC);
CREATE INDEX products_by_name ON products (tenant_id, name text_pattern_ops);

CREATE INDEX warehouses_by_created ON warehouses (tenant_id, created_at DESC, id DESC);
CREATE INDEX price_lists_by_created ON price_lists (tenant_id, created_at DESC, id DESC);
