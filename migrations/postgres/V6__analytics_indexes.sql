-- PostgreSQL twin of migrations/sqlite/V6__analytics_indexes.sql (keep the two in step).
-- Analytics support. Two facts are kept on the rows the dashboards scan, maintained in the
-- same transaction as every change (orders::service::recompute, checkout):
--   orders.live_total_cents  value of the order's non-cancelled sub-orders
--   orders.payment_status    copy of payments.status
--   sub_orders.units         items in the sub-order
--   sub_orders.delivered_at  when it was delivered (set by the transition)
-- and covering indexes let the period queries read indexes only.
ALTER TABLE orders ADD COLUMN live_total_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN payment_status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE sub_orders ADD COLUMN units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sub_orders ADD COLUMN delivered_at BIGINT;

CREATE INDEX orders_analytics_idx
    ON orders (created_at, status, payment_method, payment_status, live_total_cents);
CREATE INDEX sub_orders_analytics_idx
    ON sub_orders (created_at, status, merchant_id, subtotal_cents, units, id);
DROP INDEX order_items_sub_order_idx;
CREATE INDEX order_items_sub_order_idx
    ON order_items (sub_order_id, product_id, quantity, line_total_cents);
CREATE INDEX sub_orders_delivered_idx ON sub_orders (delivered_at, hub_id, created_at);
CREATE INDEX refunds_order_idx ON refunds (order_id);
