-- Schema version 3 of the PostgreSQL backend (API.md Part 3): a queue's retry delays
-- (seconds after the n-th delivery; NULL: none), its defaults for the delay and ttl of
-- items put without their own, and whether it is paused; and the queue a dead letter
-- came from (`POST /redrive` sends it back there). A take reads `paused` in its
-- own statement, so a pause holds on every node at once; a node that changes settings
-- tells the others, which read them again.
ALTER TABLE queues ADD COLUMN retry_delays double precision[];
ALTER TABLE queues ADD COLUMN default_delay double precision;
ALTER TABLE queues ADD COLUMN default_ttl double precision;
ALTER TABLE queues ADD COLUMN paused boolean NOT NULL DEFAULT false;
ALTER TABLE items ADD COLUMN dead_letter_from text;
