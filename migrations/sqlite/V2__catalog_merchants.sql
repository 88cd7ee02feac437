-- Catalog and merchants: categories, merchant applications and profiles, products, images,
-- and the full-text index over products.

CREATE TABLE categories (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    parent_id   TEXT    REFERENCES categories (id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- Names are unique among siblings, case-insensitively (top-level categories are siblings).
CREATE UNIQUE INDEX categories_sibling_name_uq ON categories (COALESCE(parent_id, ''), lower(name));
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE merchant_applications (
    id                    TEXT    PRIMARY KEY,
    user_id               TEXT    NOT NULL REFERENCES users (id),
    business_name         TEXT    NOT NULL,
    business_description  TEXT    NOT NULL,
    phone                 TEXT    NOT NULL,
    location              TEXT    NOT NULL,
    status                TEXT    NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'approved', 'rejected')),
    decision_note         TEXT,
    decided_by            TEXT    REFERENCES users (id),
    decided_at            INTEGER,
    created_at            INTEGER NOT NULL
);
-- One pending application per user.
CREATE UNIQUE INDEX merchant_applications_one_pending_uq
    ON merchant_applications (user_id) WHERE status = 'pending';
CREATE INDEX merchant_applications_status_idx ON merchant_applications (status, created_at);
CREATE INDEX merchant_applications_user_idx ON merchant_applications (user_id, created_at);

-- A merchant's public profile; its id is the merchant user's id.
CREATE TABLE merchants (
    id                    TEXT    PRIMARY KEY REFERENCES users (id),
    business_name         TEXT    NOT NULL,
    business_description  TEXT    NOT NULL,
    phone                 TEXT    NOT NULL,
    location              TEXT    NOT NULL,
    application_id        TEXT    REFERENCES merchant_applications (id),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE products (
    -- SQLite-only stable integer key: the row id of the full-text index.
    pk           INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    category_id  TEXT    NOT NULL REFERENCES categories (id),
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    price_cents  INTEGER NOT NULL CHECK (price_cents > 0),
    currency     TEXT    NOT NULL DEFAULT 'KES',
    stock        INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    is_active    INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- 1 while the owner is an active merchant; kept by the users_merchant_visibility trigger
    -- so the public listing filters on this row alone.
    merchant_active INTEGER NOT NULL DEFAULT 1 CHECK (merchant_active IN (0, 1)),
    rating_avg   REAL    NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    deleted_at   INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- Listing indexes cover only live rows (active, not deleted, merchant active).
CREATE INDEX products_live_created_idx ON products (created_at DESC, id)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;
CREATE INDEX products_live_price_idx ON products (price_cents, id)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;
CREATE INDEX products_live_rating_idx ON products (rating_avg DESC, rating_count DESC, id)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;
CREATE INDEX products_live_category_idx ON products (category_id, created_at DESC)
    WHERE is_active = 1 AND deleted_at IS NULL AND merchant_active = 1;
CREATE INDEX products_merchant_idx ON products (merchant_id, created_at DESC);
CREATE INDEX products_category_idx ON products (category_id);

CREATE TABLE product_images (
    id           TEXT    PRIMARY KEY,
    product_id   TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    storage_key  TEXT    NOT NULL,      -- where the storage backend keeps it
    url          TEXT    NOT NULL,      -- what clients load
    content_type TEXT    NOT NULL,
    bytes        INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX product_images_product_idx ON product_images (product_id, position);
CREATE INDEX product_images_key_idx ON product_images (storage_key);

-- Full-text index: name, description and category name of every product, keyed by
-- products.pk. Contentless (the text lives in products); kept in step by the triggers below.
CREATE VIRTUAL TABLE products_fts USING fts5 (
    name, description, category,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, name, description, category)
    VALUES (new.pk, new.name, new.description,
            (SELECT name FROM categories WHERE id = new.category_id));
END;

CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description, category_id ON products BEGIN
    DELETE FROM products_fts WHERE rowid = old.pk;
    INSERT INTO products_fts (rowid, name, description, category)
    VALUES (new.pk, new.name, new.description,
            (SELECT name FROM categories WHERE id = new.category_id));
END;

CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    DELETE FROM products_fts WHERE rowid = old.pk;
END;

CREATE TRIGGER users_merchant_visibility AFTER UPDATE OF is_active, role ON users BEGIN
    UPDATE products
    SET merchant_active = CASE WHEN new.is_active = 1 AND new.role = 'merchant' THEN 1 ELSE 0 END
    WHERE merchant_id = new.id;
END;

CREATE TRIGGER categories_fts_rename AFTER UPDATE OF name ON categories BEGIN
    DELETE FROM products_fts WHERE rowid IN (SELECT pk FROM products WHERE category_id = new.id);
    INSERT INTO products_fts (rowid, name, description, category)
    SELECT pk, name, description, new.name FROM products WHERE category_id = new.id;
END;
