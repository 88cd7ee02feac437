-- Delivery hubs: every sub-order is routed to one; hub staff and riders belong to one.

CREATE TABLE hubs (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    location    TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX hubs_name_uq ON hubs (lower(name));
