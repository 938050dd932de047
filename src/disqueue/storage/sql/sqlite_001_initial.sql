-- Schema version 1 of the SQLite backend.
-- Queues, in creation order (id), with their running totals.
CREATE TABLE queues (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,
    put_total   INTEGER NOT NULL DEFAULT 0,
    taken_total INTEGER NOT NULL DEFAULT 0
);

-- Items. `pos` orders a queue: new items get growing positions at the back, items
-- given back get falling (negative) positions at the front. Matching by key is done
-- in memory (disqueue.storage.index); the database only keeps what must survive.
CREATE TABLE items (
    pos      INTEGER PRIMARY KEY,
    queue_id INTEGER NOT NULL REFERENCES queues (id),
    id       TEXT NOT NULL,
    key      TEXT,
    value    TEXT NOT NULL
);
CREATE INDEX items_by_queue ON items (queue_id, pos);
