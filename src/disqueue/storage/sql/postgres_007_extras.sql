-- Schema version 7 of the PostgreSQL backend (API.md Part 3 "Amazon SQS compatibility"):
-- what an edge keeps with a queue beyond the core's settings (the SQS edge: attributes
-- such as MaximumMessageSize and the queue's tags), as JSON text; NULL: nothing. It
-- changes like the other settings, so the nodes read it again when told.
ALTER TABLE queues ADD COLUMN extras text;
