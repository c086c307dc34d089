-- A parent order's children (GET /v1/orders/{id}/children): only children carry a parent, so the index is partial.
CREATE INDEX orders_by_parent ON orders (parent_order_id, created_time_us, order_id) WHERE parent_order_id IS NOT NULL;
