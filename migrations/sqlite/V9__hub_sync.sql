-- Offline hub instances (see src/sync): the node's identity and cursors, the hub's own change
-- log, the centre's per-hub change log (kept by triggers), hub sync tokens, the hubs the
-- centre has heard from, and the conflicts either side found while merging.

-- One row: who this instance is in the sync protocol. On a hub also where it syncs to and how
-- far it got in each direction.
CREATE TABLE sync_node (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    node_id          TEXT    NOT NULL,
    mode             TEXT    NOT NULL CHECK (mode IN ('central', 'hub')),
    hub_id           TEXT,
    upstream_url     TEXT,
    upstream_token   TEXT,
    upstream_node_id TEXT,
    pulled_upto      INTEGER NOT NULL DEFAULT 0,  -- last centre change applied here
    pushed_upto      INTEGER NOT NULL DEFAULT 0,  -- last own change the centre acknowledged
    last_attempt_at  INTEGER,
    last_success_at  INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);

-- A hub's own changes (delivery progress, cash, riders), append-only, in the order made.
CREATE TABLE sync_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    entity_id   TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- The centre's changes that a hub needs: which entity changed, for which hub. Written by the
-- triggers below (only for hubs that have a sync token), read by GET /sync/pull, which sends
-- the entity's current state.
CREATE TABLE sync_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    hub_id      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('hub', 'staff', 'partner', 'order')),
    entity_id   TEXT    NOT NULL
);
CREATE INDEX sync_outbox_hub_idx ON sync_outbox (hub_id, seq);

-- One live token per hub, stored hashed. `base_seq`: the outbox position when it was issued
-- (the hub's full snapshot was logged right after it).
CREATE TABLE hub_sync_tokens (
    hub_id        TEXT    PRIMARY KEY REFERENCES hubs (id),
    token_hash    TEXT    NOT NULL UNIQUE,
    base_seq      INTEGER NOT NULL,
    created_by    TEXT    REFERENCES users (id),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

-- Hub nodes the centre has received changes from, and the last change it acknowledged.
CREATE TABLE sync_peers (
    node_id       TEXT    PRIMARY KEY,
    hub_id        TEXT    NOT NULL REFERENCES hubs (id),
    acked_upto    INTEGER NOT NULL DEFAULT 0,
    last_push_at  INTEGER
);

-- Changes that could not both hold (e.g. the centre cancelled what the hub received). The
-- centre's value is kept; the other side's claim is kept here for an admin. `dedupe_key`
-- makes recording idempotent: a replayed change never records a second conflict.
CREATE TABLE sync_conflicts (
    id            TEXT    PRIMARY KEY,
    dedupe_key    TEXT    NOT NULL UNIQUE,
    hub_id        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    entity_id     TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    local_state   TEXT    NOT NULL,
    remote_state  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX sync_conflicts_created_idx ON sync_conflicts (created_at DESC, id);
CREATE INDEX sync_conflicts_hub_idx ON sync_conflicts (hub_id, created_at DESC);

-- Every change a hub's instance must hear about, whichever code path made it.
CREATE TRIGGER sync_sub_orders_insert AFTER INSERT ON sub_orders
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.hub_id, 'order', NEW.order_id);
END;
CREATE TRIGGER sync_sub_orders_update AFTER UPDATE ON sub_orders
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.hub_id, 'order', NEW.order_id);
END;
CREATE TRIGGER sync_sub_order_events_insert AFTER INSERT ON sub_order_events
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id)
        SELECT s.hub_id, 'order', s.order_id FROM sub_orders s
        WHERE s.id = NEW.sub_order_id
          AND EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = s.hub_id);
END;
CREATE TRIGGER sync_payments_update AFTER UPDATE ON payments
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id)
        SELECT o.hub_id, 'order', o.id FROM orders o
        WHERE o.id = NEW.order_id
          AND EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = o.hub_id);
END;
CREATE TRIGGER sync_partners_insert AFTER INSERT ON delivery_partners
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.hub_id, 'partner', NEW.id);
END;
CREATE TRIGGER sync_partners_update AFTER UPDATE ON delivery_partners
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.hub_id, 'partner', NEW.id);
END;
CREATE TRIGGER sync_hub_staff_insert AFTER INSERT ON hub_staff
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.hub_id, 'staff', NEW.user_id);
END;
CREATE TRIGGER sync_hub_staff_update AFTER UPDATE ON hub_staff
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id)
        SELECT h, 'staff', NEW.user_id FROM (SELECT OLD.hub_id AS h UNION SELECT NEW.hub_id)
        WHERE EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = h);
END;
CREATE TRIGGER sync_hub_staff_delete AFTER DELETE ON hub_staff
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = OLD.hub_id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (OLD.hub_id, 'staff', OLD.user_id);
END;
CREATE TRIGGER sync_users_update
AFTER UPDATE OF email, password_hash, full_name, phone, role, is_active, email_verified ON users
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id)
        SELECT s.hub_id, 'staff', NEW.id FROM hub_staff s
        WHERE s.user_id = NEW.id
          AND EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = s.hub_id);
END;
CREATE TRIGGER sync_hubs_update AFTER UPDATE ON hubs
WHEN EXISTS (SELECT 1 FROM hub_sync_tokens t WHERE t.hub_id = NEW.id)
BEGIN
    INSERT INTO sync_outbox (hub_id, kind, entity_id) VALUES (NEW.id, 'hub', NEW.id);
END;
