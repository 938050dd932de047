-- Schema version 4 of the SQLite backend (API.md Part 3): a queue's retry delays (seconds
-- after the n-th delivery, comma-separated; NULL: none), its defaults for the delay and
-- ttl of items put without their own, and whether it is paused; and the queue a dead
-- letter came from (`POST /redrive` sends it back there).
ALTER TABLE queues ADD COLUMN retry_delays TEXT;
ALTER TABLE queues ADD COLUMN default_delay REAL;
ALTER TABLE queues ADD COLUMN default_ttl REAL;
ALTER TABLE queues ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN dead_letter_from TEXT;
