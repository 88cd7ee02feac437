-- PostgreSQL twin of migrations/sqlite/V7__listing_counts.sql (keep the two in step).
-- Listing speed on large catalogs.
--
-- 1. Exact totals without counting rows: live products per category, kept by triggers in the
--    same transaction as every change that can make a product appear or disappear (insert,
--    delete, and updates of is_active, deleted_at, merchant_active or category_id; stock and
--    price changes never fire them). The unfiltered and category listings sum these rows.
CREATE TABLE product_live_counts (
    category_id TEXT    PRIMARY KEY,
    n           BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO product_live_counts (category_id, n)
    SELECT category_id, COUNT(*) FROM products
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
    GROUP BY category_id;

-- Statement-level triggers with transition tables (SQLite's are per row): one counter write
-- per statement and category, however many rows the statement changes. Per-row counter
-- updates made PostgreSQL walk every earlier version of the counter row in the transaction,
-- so bulk changes (a merchant with 20 000 products deactivated, migrate-data) grew
-- quadratically. Updates that leave a category's live count as it was (stock, price) write
-- nothing.
CREATE FUNCTION products_live_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO product_live_counts (category_id, n)
            SELECT category_id, COUNT(*) FROM new_rows
            WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
            GROUP BY category_id
            ON CONFLICT (category_id) DO UPDATE SET n = product_live_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE product_live_counts AS c SET n = c.n - d.k
            FROM (SELECT category_id, COUNT(*) AS k FROM old_rows
                  WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
                  GROUP BY category_id) AS d
            WHERE c.category_id = d.category_id;
    ELSE
        INSERT INTO product_live_counts (category_id, n)
            SELECT category_id, SUM(k) FROM (
                SELECT category_id, COUNT(*) AS k FROM new_rows
                WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
                GROUP BY category_id
                UNION ALL
                SELECT category_id, -COUNT(*) FROM old_rows
                WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1
                GROUP BY category_id) AS d
            GROUP BY category_id
            HAVING SUM(k) <> 0
            ON CONFLICT (category_id) DO UPDATE SET n = product_live_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_live_count_insert AFTER INSERT ON products
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION products_live_count_apply();
CREATE TRIGGER products_live_count_delete AFTER DELETE ON products
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION products_live_count_apply();
CREATE TRIGGER products_live_count_update AFTER UPDATE ON products
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION products_live_count_apply();

DROP INDEX products_live_created_idx;
CREATE INDEX products_live_created_idx ON products (created_at DESC, id DESC)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;
DROP INDEX products_live_category_idx;
CREATE INDEX products_live_category_idx ON products (category_id, created_at DESC, id DESC)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;

-- 3. The catalog generation: bumped by every change that can alter which products a listing
--    or search returns, their order, or its total (never by stock or updated_at alone, so
--    checkouts leave it alone). The listing cache tags its entries with it.
--    (A single row: every transaction that bumps it holds its row lock until it commits.)
CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, n) VALUES (1, 1);

-- One function serves the six catalog_generation_* triggers.
-- Statement-level too: one bump per statement (an UPDATE OF these columns that changes no row
-- still bumps it, which only costs a cache refill).
CREATE FUNCTION catalog_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER catalog_generation_product_insert AFTER INSERT ON products
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_product_delete AFTER DELETE ON products
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_product_update
AFTER UPDATE OF name, description, category_id, price_cents, is_active, deleted_at,
                merchant_active, rating_avg, rating_count ON products
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_insert AFTER INSERT ON categories
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_delete AFTER DELETE ON categories
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_update AFTER UPDATE OF name, parent_id ON categories
FOR EACH STATEMENT EXECUTE FUNCTION catalog_generation_bump();
