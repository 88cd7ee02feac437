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

CREATE FUNCTION products_live_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO product_live_counts (category_id, n) VALUES (NEW.category_id, 1)
        ON CONFLICT (category_id) DO UPDATE SET n = product_live_counts.n + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_live_count_insert AFTER INSERT ON products
FOR EACH ROW
WHEN (NEW.is_active = 1 AND NEW.deleted_at IS NULL AND NEW.merchant_active = 1)
EXECUTE FUNCTION products_live_count_insert();

CREATE FUNCTION products_live_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE product_live_counts SET n = n - 1 WHERE category_id = OLD.category_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_live_count_delete AFTER DELETE ON products
FOR EACH ROW
WHEN (OLD.is_active = 1 AND OLD.deleted_at IS NULL AND OLD.merchant_active = 1)
EXECUTE FUNCTION products_live_count_delete();

CREATE FUNCTION products_live_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.is_active = 1 AND OLD.deleted_at IS NULL AND OLD.merchant_active = 1 THEN
        UPDATE product_live_counts SET n = n - 1 WHERE category_id = OLD.category_id;
    END IF;
    IF NEW.is_active = 1 AND NEW.deleted_at IS NULL AND NEW.merchant_active = 1 THEN
        INSERT INTO product_live_counts (category_id, n) VALUES (NEW.category_id, 1)
            ON CONFLICT (category_id) DO UPDATE SET n = product_live_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_live_count_update
AFTER UPDATE OF is_active, deleted_at, merchant_active, category_id ON products
FOR EACH ROW EXECUTE FUNCTION products_live_count_update();

-- 2. The newest-first listings sort by (created_at DESC, id DESC): the indexes now say so,
--    so a page is read straight off the index with no sort step.
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
CREATE FUNCTION catalog_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER catalog_generation_product_insert AFTER INSERT ON products
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_product_delete AFTER DELETE ON products
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_product_update
AFTER UPDATE OF name, description, category_id, price_cents, is_active, deleted_at,
                merchant_active, rating_avg, rating_count ON products
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_insert AFTER INSERT ON categories
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_delete AFTER DELETE ON categories
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER catalog_generation_category_update AFTER UPDATE OF name, parent_id ON categories
FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
