-- Schema version 3 of the PostgreSQL backend (API.md Part 3): a queue's retry delays
-- (seconds after the n-th delivery; NULL: none), its defaults for the delay and ttl of
-- items put without their own, the queues paused, and the queue a dead letter came from
-- (`POST /redrive` sends it back there). A node that changes settings tells the others,
-- which read them again.
ALTER TABLE queues ADD COLUMN retry_delays double precision[];
ALTER TABLE queues ADD COLUMN default_delay double precision;
ALTER TABLE queues ADD COLUMN default_ttl double precision;
ALTER TABLE items ADD COLUMN dead_letter_from text;
-- A take reads the pause in its own statement, so it holds on every node at once: from
-- a table of its own, almost always empty: a lookup there cost a one-item take under 1%,
-- one in `queues` (whose rows the totals keep updating) 4-15% (issue 15's closing note).
CREATE TABLE paused (queue_id bigint PRIMARY KEY REFERENCES queues (id) ON DELETE CASCADE);
