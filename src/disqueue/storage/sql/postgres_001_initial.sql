-- Schema version 1 of the PostgreSQL backend. Runs inside the service's own schema
-- (storage.schema), so one database can hold several independent services.

-- Queues, in creation order (id), with their settings and running totals. Totals are
-- statistics: each node adds what it counted about once a second.
CREATE TABLE queues (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    created             timestamptz NOT NULL,
    lease               double precision,
    max_attempts        integer,
    dead_letter         text,
    max_items           integer,
    put_total           bigint NOT NULL DEFAULT 0,
    taken_total         bigint NOT NULL DEFAULT 0,
    acked_total         bigint NOT NULL DEFAULT 0,
    expired_total       bigint NOT NULL DEFAULT 0,
    dead_lettered_total bigint NOT NULL DEFAULT 0
);

-- `pos` orders a queue: new items take growing positions at the back (items_back),
-- items given back take falling negative ones at the front (items_front).
CREATE SEQUENCE items_back;
CREATE SEQUENCE items_front;

-- An item is ready (lease_until and visible_at NULL), delayed (visible_at set) or in
-- flight (lease_until set). `match` is the key as matched (lower-cased by the server,
-- the same function as every other backend, whatever the database's collation).
-- Times are seconds since the epoch, from the nodes' clocks (`put_at`, for the age of
-- the oldest item, from the database's).
CREATE TABLE items (
    pos         bigint PRIMARY KEY,
    queue_id    bigint NOT NULL,  -- no foreign key: see storage/postgres/sql.py
    id          text NOT NULL,
    key         text,
    match       text,
    value       text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    lease_until double precision,
    visible_at  double precision,
    ttl_at      double precision,
    put_at      double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
);
-- A take reads the head of the ready items, with or without a key: both are index
-- range scans, never a scan of the queue.
CREATE INDEX items_ready ON items (queue_id, pos)
    WHERE lease_until IS NULL AND visible_at IS NULL;
CREATE INDEX items_ready_key ON items (queue_id, match, pos)
    WHERE lease_until IS NULL AND visible_at IS NULL;
-- ack, release and touch name an item by its id.
CREATE INDEX items_by_id ON items (queue_id, id);
-- Deadlines, for any node to find what is due.
CREATE INDEX items_leases ON items (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX items_delays ON items (visible_at) WHERE visible_at IS NOT NULL;
CREATE INDEX items_ttls ON items (ttl_at) WHERE ttl_at IS NOT NULL AND lease_until IS NULL;

-- The de-duplication window: a put's dedup_id and the item it stood for, until when.
CREATE TABLE dedup (
    queue_id bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    dedup_id text NOT NULL,
    item_id  text NOT NULL,
    until    double precision NOT NULL,
    PRIMARY KEY (queue_id, dedup_id)
);

-- Queues deleted in the last minute: their items are removed once more then, in case a
-- put racing the delete stored one after the delete removed the rest.
CREATE TABLE dropped (
    queue_id bigint NOT NULL,
    at       double precision NOT NULL
);
