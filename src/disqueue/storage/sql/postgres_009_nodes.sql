-- Schema version 9 of the PostgreSQL backend (issue 19, the dashboard's "nodes on
-- PostgreSQL"): the nodes sharing this schema. Each node writes its row at start,
-- refreshes `last_seen` every few seconds from its sweep loop and deletes the row on a
-- clean close; a row not seen for 30 s is a node gone, deleted by whichever node looks.
-- Times are the database's, so the nodes' clocks need not agree.
CREATE TABLE nodes (
    id text PRIMARY KEY,  -- random, made at the node's start
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now()
);
