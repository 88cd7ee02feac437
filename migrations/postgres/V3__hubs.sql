-- PostgreSQL twin of migrations/sqlite/V3__hubs.sql (keep the two in step).
-- Delivery hubs: every sub-order is routed to one; hub staff and riders belong to one.

CREATE TABLE hubs (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    location    TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    is_active   BIGINT  NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX hubs_name_uq ON hubs (lower(name));
