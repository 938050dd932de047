-- Schema version 8 of the SQLite backend (API.md Part 3 "Amazon SQS compatibility"):
-- what an edge keeps with a queue beyond the core's settings (the SQS edge: attributes
-- such as MaximumMessageSize and the queue's tags), as JSON text; NULL: nothing.
ALTER TABLE queues ADD COLUMN extras TEXT;
