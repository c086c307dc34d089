-- The query-side projections of the order path, maintained by the PostgreSQL sink from the topics.
-- Amounts are bigint exactly as on the wire (fixed point; scales in schemas/scales.py: 8 decimals).
-- Times are microseconds since the Unix epoch (UTC), as in the events.

-- One row per order: its state after its latest event (topic order within the account's partition).
CREATE TABLE orders (
    order_id         text    PRIMARY KEY,
    account          text    NOT NULL,
    symbol           text    NOT NULL,
    side             text    NOT NULL,
    order_type       text    NOT NULL,
    time_in_force    text    NOT NULL,
    status           text    NOT NULL,
    version          integer NOT NULL,
    quantity         bigint  NOT NULL,
    price            bigint,
    stop_price       bigint,
    cum_quantity     bigint  NOT NULL,
    leaves_quantity  bigint  NOT NULL,
    avg_price        bigint,
    client_order_id  text    NOT NULL,
    parent_order_id  text,
    venue            text,
    post_only        boolean NOT NULL,
    reduce_only      boolean NOT NULL,
    expire_time_us   bigint,
    last_event_type  text    NOT NULL,
    last_reason      text,              -- the latest reject reason the order met (denial, cancel/replace reject)
    last_detail      text    NOT NULL,
    created_time_us  bigint  NOT NULL,  -- event time of its first event
    updated_time_us  bigint  NOT NULL,  -- event time of its latest event
    last_event_id    text    NOT NULL,
    event_count      integer NOT NULL   -- events of this order in order_events (the last sequence number)
);
-- Newest first, keyset-paginated on (created_time_us, order_id), filtered by account, symbol or status.
CREATE INDEX orders_by_time ON orders (created_time_us DESC, order_id DESC);
CREATE INDEX orders_by_account ON orders (account, created_time_us DESC, order_id DESC);
CREATE INDEX orders_by_symbol ON orders (symbol, created_time_us DESC, order_id DESC);
CREATE INDEX orders_by_status ON orders (status, created_time_us DESC, order_id DESC);
CREATE INDEX orders_by_client_order_id ON orders (account, client_order_id);

-- The full history: one row per OrderEvent, once (event ids are unique), numbered within its order.
CREATE TABLE order_events (
    event_id          text    PRIMARY KEY,
    order_id          text    NOT NULL,
    account           text    NOT NULL,
    sequence          integer NOT NULL,  -- 1, 2, … in the order's history (topic order)
    event_type        text    NOT NULL,
    status            text    NOT NULL,
    version           integer NOT NULL,
    event_time_us     bigint  NOT NULL,
    event             jsonb   NOT NULL,  -- the decoded event as written
    source_topic      text    NOT NULL,
    source_partition  integer NOT NULL,
    source_offset     bigint  NOT NULL,
    UNIQUE (order_id, sequence)          -- also the index of "an order's events in order"
);
CREATE INDEX order_events_by_account ON order_events (account, event_time_us DESC);

-- One row per fill of an order. A venue match reports the same fill id to taker and maker, so the
-- fill id is unique per order. Rows merge the OMS's fill event (side) and the venue's report (venue).
CREATE TABLE fills (
    order_id            text   NOT NULL,
    fill_id             text   NOT NULL,
    account             text   NOT NULL,
    symbol              text   NOT NULL,
    side                text,            -- from the order's fill event; null while only the venue report is in
    quantity            bigint NOT NULL,
    price               bigint NOT NULL,
    fee                 bigint NOT NULL,
    liquidity           text,
    venue               text,
    event_time_us       bigint NOT NULL,
    order_event_id      text,            -- the OrderEvent that carried it
    execution_event_id  text,            -- the venue ExecutionReport that carried it
    PRIMARY KEY (order_id, fill_id)
);
CREATE INDEX fills_by_time ON fills (event_time_us DESC, order_id DESC, fill_id DESC);
CREATE INDEX fills_by_account ON fills (account, event_time_us DESC, order_id DESC, fill_id DESC);
CREATE INDEX fills_by_symbol ON fills (symbol, event_time_us DESC, order_id DESC, fill_id DESC);

-- The latest position per account and symbol.
CREATE TABLE positions (
    account          text   NOT NULL,
    symbol           text   NOT NULL,
    quantity         bigint NOT NULL,
    avg_price        bigint,
    realized_pnl     bigint NOT NULL,
    unrealized_pnl   bigint NOT NULL,
    fees             bigint NOT NULL,
    cash             bigint NOT NULL,
    mark_price       bigint,
    fill_count       bigint NOT NULL,
    last_fill_id     text,
    version          bigint NOT NULL,
    updated_time_us  bigint NOT NULL,
    last_event_id    text   NOT NULL,
    PRIMARY KEY (account, symbol)
);

-- Where each projection resumes: written in the same transaction as the rows (exactly once in effect).
CREATE TABLE projection_offsets (
    projection   text    NOT NULL,
    topic        text    NOT NULL,   -- the physical topic name (with any prefix)
    partition    integer NOT NULL,
    next_offset  bigint  NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);
