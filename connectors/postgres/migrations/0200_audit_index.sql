-- The audit index (connectors/audit/index.py): where in the log each order's records are, so `sq audit order`
-- and GET /v1/orders/{id}/audit fetch exactly those offsets from Kafka instead of scanning the topics.
-- ref: the order id, or for a position the event id of the order event that caused it. One row per ref,
-- topic partition and indexed batch, with that batch's offsets of the ref: a few rows per order.
CREATE TABLE IF NOT EXISTS audit_index (
    ref         text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    offsets     bigint[] NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_index_ref ON audit_index (ref);

-- Child orders (records whose parent_order_id names another order): a parent's audit shows its tree.
-- topic_prefix: the topic namespace (SQ_TOPIC_PREFIX) the link was read in.
CREATE TABLE IF NOT EXISTS audit_children (
    topic_prefix    text NOT NULL,
    parent_order_id text NOT NULL,
    order_id        text NOT NULL,
    PRIMARY KEY (topic_prefix, parent_order_id, order_id)
);

-- How far the index has read each partition (the next offset), written with the rows in one transaction.
CREATE TABLE IF NOT EXISTS audit_index_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
