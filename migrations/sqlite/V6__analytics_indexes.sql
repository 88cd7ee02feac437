-- Indexes for the analytics queries: periods over placement time, delivery events, refunds
-- by order.
CREATE INDEX sub_orders_created_idx ON sub_orders (created_at);
CREATE INDEX sub_order_events_to_status_idx ON sub_order_events (to_status, created_at);
CREATE INDEX refunds_order_idx ON refunds (order_id);
