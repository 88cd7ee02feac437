-- PostgreSQL twin of migrations/sqlite/V5__mpesa_refunds_reviews.sql (keep the two in step).
-- M-Pesa STK requests and the raw callbacks received, refunds with evidence and payouts,
-- and verified reviews.

ALTER TABLE payments ADD COLUMN receipt TEXT;
ALTER TABLE payments ADD COLUMN failed_at BIGINT;
CREATE INDEX payments_failed_idx ON payments (status, failed_at);

-- One row per STK push sent. `amount` is whole shillings (what the phone was asked for).
CREATE TABLE mpesa_requests (
    checkout_request_id  TEXT    PRIMARY KEY,
    merchant_request_id  TEXT,
    order_id             TEXT    NOT NULL REFERENCES orders (id),
    phone                TEXT    NOT NULL,
    amount               BIGINT  NOT NULL CHECK (amount > 0),
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'rejected')),
    result_code          BIGINT,
    result_desc          TEXT,
    receipt              TEXT,
    created_at           BIGINT  NOT NULL,
    settled_at           BIGINT
);
CREATE UNIQUE INDEX mpesa_requests_receipt_uq ON mpesa_requests (receipt) WHERE receipt IS NOT NULL;
CREATE INDEX mpesa_requests_pending_idx ON mpesa_requests (status, created_at);
CREATE INDEX mpesa_requests_order_idx ON mpesa_requests (order_id, created_at);

-- Every callback body as received (audit trail, and early callbacks that arrive before
-- their request row is stored are applied when it is).
CREATE TABLE mpesa_callbacks (
    id                   TEXT    PRIMARY KEY,
    kind                 TEXT    NOT NULL CHECK (kind IN ('stk', 'b2c')),
    reference            TEXT,             -- CheckoutRequestID or OriginatorConversationID
    body                 TEXT    NOT NULL,
    processed            BIGINT  NOT NULL DEFAULT 0 CHECK (processed IN (0, 1)),
    outcome              TEXT,
    received_at          BIGINT  NOT NULL
);
CREATE INDEX mpesa_callbacks_reference_idx ON mpesa_callbacks (kind, reference, processed);

CREATE TABLE refunds (
    id                TEXT    PRIMARY KEY,
    order_id          TEXT    NOT NULL REFERENCES orders (id),
    sub_order_id      TEXT    NOT NULL REFERENCES sub_orders (id),
    customer_id       TEXT    NOT NULL REFERENCES users (id),
    reason            TEXT    NOT NULL CHECK (reason IN ('damaged', 'wrong_item', 'not_as_described',
                                                         'not_received', 'other')),
    description       TEXT    NOT NULL,
    amount_cents      BIGINT  NOT NULL CHECK (amount_cents > 0),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    decision_note     TEXT,
    decided_by        TEXT    REFERENCES users (id),
    decided_at        BIGINT,
    goods_returned    BIGINT  NOT NULL DEFAULT 0 CHECK (goods_returned IN (0, 1)),
    payout_method     TEXT    CHECK (payout_method IN ('mpesa_b2c', 'manual')),
    payout_status     TEXT    CHECK (payout_status IN ('pending', 'paid', 'failed', 'recorded')),
    payout_reference  TEXT,             -- B2C OriginatorConversationID, or the manual payout note
    payout_receipt    TEXT,             -- M-Pesa TransactionID of the payout
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);
-- One open request per sub-order.
CREATE UNIQUE INDEX refunds_open_uq ON refunds (sub_order_id) WHERE status = 'pending';
CREATE UNIQUE INDEX refunds_payout_reference_uq ON refunds (payout_reference) WHERE payout_reference IS NOT NULL;
CREATE INDEX refunds_status_idx ON refunds (status, created_at);
CREATE INDEX refunds_customer_idx ON refunds (customer_id, created_at);

-- The items (and quantities) a refund is about; empty means the whole sub-order.
CREATE TABLE refund_items (
    refund_id      TEXT    NOT NULL REFERENCES refunds (id),
    order_item_id  TEXT    NOT NULL REFERENCES order_items (id),
    quantity       BIGINT  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (refund_id, order_item_id)
);

CREATE TABLE refund_evidence (
    id            TEXT    PRIMARY KEY,
    refund_id     TEXT    NOT NULL REFERENCES refunds (id),
    storage_key   TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    bytes         BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX refund_evidence_refund_idx ON refund_evidence (refund_id, created_at);

CREATE TABLE reviews (
    id           TEXT    PRIMARY KEY,
    product_id   TEXT    NOT NULL REFERENCES products (id),
    customer_id  TEXT    NOT NULL REFERENCES users (id),
    rating       BIGINT  NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      TEXT    NOT NULL,
    reply        TEXT,
    replied_at   BIGINT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE UNIQUE INDEX reviews_one_per_customer_uq ON reviews (product_id, customer_id);
CREATE INDEX reviews_product_idx ON reviews (product_id, created_at DESC);
