-- PostgreSQL twin of migrations/sqlite/V4__orders_delivery.sql (keep the two in step).
-- Commerce: carts, master orders split into per-merchant sub-orders, order items with a
-- price snapshot, the sub-order history, payments, hub staff and delivery partners.

CREATE TABLE cart_items (
    id           TEXT    PRIMARY KEY,
    customer_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id   TEXT    NOT NULL REFERENCES products (id),
    quantity     BIGINT  NOT NULL CHECK (quantity > 0),
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE UNIQUE INDEX cart_items_line_uq ON cart_items (customer_id, product_id);

CREATE TABLE hub_staff (
    user_id     TEXT    PRIMARY KEY REFERENCES users (id),
    hub_id      TEXT    NOT NULL REFERENCES hubs (id),
    created_at  BIGINT  NOT NULL
);
CREATE INDEX hub_staff_hub_idx ON hub_staff (hub_id);

CREATE TABLE delivery_partners (
    id          TEXT    PRIMARY KEY,
    hub_id      TEXT    NOT NULL REFERENCES hubs (id),
    name        TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    vehicle     TEXT,
    is_active   BIGINT  NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX delivery_partners_phone_uq ON delivery_partners (hub_id, phone);

-- What the customer pays. `status` is derived from the sub-orders and the payment and
-- stored (recomputed in the same transaction as every change) so lists can filter on it.
CREATE TABLE orders (
    id               TEXT    PRIMARY KEY,
    customer_id      TEXT    NOT NULL REFERENCES users (id),
    status           TEXT    NOT NULL,
    payment_method   TEXT    NOT NULL CHECK (payment_method IN ('mpesa', 'cod')),
    total_cents      BIGINT  NOT NULL CHECK (total_cents >= 0),
    currency         TEXT    NOT NULL,
    hub_id           TEXT    NOT NULL REFERENCES hubs (id),
    delivery_address TEXT    NOT NULL,
    phone            TEXT    NOT NULL,
    idempotency_key  TEXT,
    request_hash     TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency_uq ON orders (customer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC);
CREATE INDEX orders_hub_idx ON orders (hub_id, created_at DESC);

-- What one merchant fulfils.
CREATE TABLE sub_orders (
    id                  TEXT    PRIMARY KEY,
    order_id            TEXT    NOT NULL REFERENCES orders (id),
    merchant_id         TEXT    NOT NULL REFERENCES merchants (id),
    hub_id              TEXT    NOT NULL REFERENCES hubs (id),
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'processing',
                            'shipped_to_hub', 'at_hub', 'out_for_delivery', 'delivered',
                            'cancelled', 'returned')),
    subtotal_cents      BIGINT  NOT NULL CHECK (subtotal_cents >= 0),
    delivery_partner_id TEXT    REFERENCES delivery_partners (id),
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);
CREATE INDEX sub_orders_order_idx ON sub_orders (order_id);
CREATE INDEX sub_orders_merchant_idx ON sub_orders (merchant_id, created_at DESC);
CREATE INDEX sub_orders_hub_idx ON sub_orders (hub_id, status, created_at DESC);

CREATE TABLE order_items (
    id                TEXT    PRIMARY KEY,
    order_id          TEXT    NOT NULL REFERENCES orders (id),
    sub_order_id      TEXT    NOT NULL REFERENCES sub_orders (id),
    product_id        TEXT    NOT NULL REFERENCES products (id),
    name              TEXT    NOT NULL,             -- snapshot at checkout
    unit_price_cents  BIGINT  NOT NULL CHECK (unit_price_cents > 0),
    quantity          BIGINT  NOT NULL CHECK (quantity > 0),
    line_total_cents  BIGINT  NOT NULL
);
CREATE INDEX order_items_sub_order_idx ON order_items (sub_order_id);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- Every status change of a sub-order: who, in which role, and when.
CREATE TABLE sub_order_events (
    id            TEXT    PRIMARY KEY,
    sub_order_id  TEXT    NOT NULL REFERENCES sub_orders (id),
    from_status   TEXT,
    to_status     TEXT    NOT NULL,
    actor_id      TEXT    REFERENCES users (id),     -- NULL for the system (e.g. payment release)
    actor_role    TEXT    NOT NULL,
    note          TEXT,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX sub_order_events_sub_idx ON sub_order_events (sub_order_id, created_at);

-- One payment per master order (M-Pesa details are added by the payments issue).
CREATE TABLE payments (
    id              TEXT    PRIMARY KEY,
    order_id        TEXT    NOT NULL UNIQUE REFERENCES orders (id),
    method          TEXT    NOT NULL CHECK (method IN ('mpesa', 'cod')),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'cancelled')),
    amount_cents    BIGINT  NOT NULL,
    collected_cents BIGINT,
    confirmed_by    TEXT    REFERENCES users (id),
    paid_at         BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
