"""The statements of the PostgreSQL backend, in one place.

They run with `search_path` set to the service's schema. A take picks the head of
the ready items with `FOR UPDATE SKIP LOCKED`: concurrent takers on any node get
different items and never wait for each other, and each item goes to exactly one.
"""

from __future__ import annotations

ITEM = "i.pos, i.id, i.key, i.value, i.attempts, i.dead_letter_from, i.headers, i.priority"
#: A take without a lease deletes its rows: it returns their ttl end too, so that items
#: whose request went away are put back as they were (`UNTAKE`).
TAKEN = ITEM + ", i.ttl_at"

QUEUE_BY_NAME = """
SELECT id, lease, max_attempts, dead_letter, max_items, retry_delays, default_delay,
       default_ttl, ordered, extras,
       EXISTS (SELECT 1 FROM paused WHERE queue_id = id) AS paused
FROM queues WHERE name = $1"""

LOCK_CREATES = "SELECT pg_advisory_xact_lock(hashtext($1))"
CREATE_QUEUE = """
INSERT INTO queues (name, created, lease, max_attempts, dead_letter, max_items, retry_delays,
                    default_delay, default_ttl, extras, ordered)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING RETURNING id"""
CHANGE_SETTINGS = """
UPDATE queues SET lease = $2, max_attempts = $3, dead_letter = $4, max_items = $5,
                  retry_delays = $6, default_delay = $7, default_ttl = $8, extras = $9
WHERE id = $1 RETURNING id"""
PAUSE = "INSERT INTO paused (queue_id) VALUES ($1) ON CONFLICT DO NOTHING"
RESUME = "DELETE FROM paused WHERE queue_id = $1"

DELETE_QUEUE = "DELETE FROM queues WHERE name = $1 RETURNING id"
DELETE_ITEMS = "DELETE FROM items WHERE queue_id = $1"
NOTE_DROPPED = "INSERT INTO dropped (queue_id, at) VALUES ($1, $2)"
# A minute after a delete, what a put racing it may have left.
LEFT_BEHIND = """
WITH gone AS (DELETE FROM dropped WHERE at < $1 RETURNING queue_id)
DELETE FROM items WHERE queue_id IN (SELECT queue_id FROM gone)"""

# Items whose ttl passed are counted as expired at once, before a node drops them.
INFO = """
SELECT q.id, q.created, q.lease, q.max_attempts, q.dead_letter, q.max_items,
       q.retry_delays, q.default_delay, q.default_ttl, q.ordered, q.extras,
       EXISTS (SELECT 1 FROM paused WHERE queue_id = q.id) AS paused,
       q.put_total, q.taken_total, q.acked_total, q.expired_total, q.dead_lettered_total,
       c.ready, c.delayed, c.in_flight, c.expiring, c.oldest
FROM queues q, LATERAL (
    SELECT count(*) FILTER (WHERE lease_until IS NULL AND visible_at IS NULL
                            AND (ttl_at IS NULL OR ttl_at > $2)) AS ready,
           count(*) FILTER (WHERE lease_until IS NULL AND visible_at IS NOT NULL
                            AND (ttl_at IS NULL OR ttl_at > $2)) AS delayed,
           count(*) FILTER (WHERE lease_until IS NOT NULL) AS in_flight,
           count(*) FILTER (WHERE lease_until IS NULL AND ttl_at <= $2) AS expiring,
           min(put_at) FILTER (WHERE lease_until IS NULL AND visible_at IS NULL
                               AND (ttl_at IS NULL OR ttl_at > $2)) AS oldest
    FROM items WHERE queue_id = q.id) c
WHERE q.name = $1"""

# Items held (ready, delayed, in flight): what `max_items` limits. The queue's row is
# locked first, so two puts into a capped queue count one after the other.
LOCK_QUEUE = "SELECT 1 FROM queues WHERE id = $1 FOR NO KEY UPDATE"
HELD = "SELECT count(*) FROM items WHERE queue_id = $1"

# Items do not reference their queue with a foreign key: each check of one would lock
# the queue's row (FOR KEY SHARE), and puts on several nodes at once would share those
# locks through multixacts, which costs more than the insert. Instead an insert reads
# that its queue exists (a put into a queue already deleted stores nothing and says
# so), and a delete removes its items in its own transaction, and once more a minute
# later (`dropped`), for a put that raced it.
_EXISTS = "WHERE EXISTS (SELECT 1 FROM queues WHERE id = {})"

PUT = f"""
INSERT INTO items (pos, queue_id, id, key, match, value)
SELECT nextval('items_back'), $1, $2, $3, $4, $5 {_EXISTS.format("$1")}"""

PUT_FRONT = f"""
INSERT INTO items (pos, queue_id, id, key, match, value, attempts, headers, priority)
SELECT -nextval('items_front'), $1, $2, $3, $4, $5, $6, $7, $8 {_EXISTS.format("$1")}"""

# Puts gathered while the database was busy (disqueue.storage.postgres.batch), into
# any queues, as one statement.
PUT_BATCH = f"""
INSERT INTO items (pos, queue_id, id, key, match, value)
SELECT nextval('items_back'), u.* FROM unnest($1::bigint[], $2::text[], $3::text[],
                                               $4::text[], $5::text[])
    AS u (queue_id, id, key, match, value)
{_EXISTS.format("u.queue_id")}
RETURNING id"""

# Items taken for a request that went away before they reached it: back to the front,
# as if never taken.
UNTAKE = f"""
INSERT INTO items (pos, queue_id, id, key, match, value, attempts, headers, priority, ttl_at,
                   dead_letter_from)
SELECT -nextval('items_front'), $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                                                 $6::int[], $7::text[], $8::smallint[],
                                                 $9::float8[], $10::text[])
{_EXISTS.format("$1")}"""
UNLEASE = """
UPDATE items SET pos = -nextval('items_front'), lease_until = NULL, attempts = attempts - 1
WHERE queue_id = $1 AND id = ANY($2::text[]) AND lease_until IS NOT NULL"""

# A plain put stored in flight for a consumer waiting with a lease on this node (its
# first delivery): nothing while the queue is paused (contract.takeable), on any node.
PUT_LEASED = f"""
INSERT INTO items (pos, queue_id, id, key, match, value, attempts, lease_until, receipt)
SELECT nextval('items_back'), $1, $2, $3, $4, $5, 1, $6, $7 {_EXISTS.format("$1")}
  AND NOT EXISTS (SELECT 1 FROM paused WHERE queue_id = $1)"""

POSITIONS = "SELECT nextval('items_back') FROM generate_series(1, $1)"

PUT_MANY = f"""
INSERT INTO items (queue_id, pos, id, key, match, value, visible_at, ttl_at, headers, priority)
SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::float8[], $8::float8[], $9::text[], $10::smallint[])
{_EXISTS.format("$1")}"""

# A dedup_id claims its window unless a live claim exists (then nothing is returned
# and the first item's id is read). Two nodes claiming at once: the second waits for
# the first's row lock and then sees a live claim.
CLAIM = """
INSERT INTO dedup AS d (queue_id, dedup_id, item_id, until) VALUES ($1, $2, $3, $4)
ON CONFLICT (queue_id, dedup_id) DO UPDATE SET item_id = excluded.item_id, until = excluded.until
WHERE d.until <= $5 RETURNING item_id"""
CLAIMED = "SELECT item_id FROM dedup WHERE queue_id = $1 AND dedup_id = $2"

_READY = """
SELECT pos FROM items r
WHERE queue_id = $1 AND lease_until IS NULL AND visible_at IS NULL
  AND (ttl_at IS NULL OR ttl_at > $3) {key} {paused} {free} {one}
ORDER BY {order} LIMIT $2"""
# A take (locked) finds nothing in a paused queue (contract.takeable), read from the
# `paused` table in the same statement (one lookup per statement, whatever the count),
# so that a pause holds on every node at once; a peek still sees the head.
_NOT_PAUSED = "AND NOT EXISTS (SELECT 1 FROM paused WHERE queue_id = $1)"
# On an ordered queue, only items of a free group (contract.group_free): none of its key
# in flight or delayed at the front after a lease (contract.holds_group). The held keys
# are read once per statement (from `items_held`), not probed per item passed: behind
# many items of a held group that is 3x faster (bench/ordered.py).
_FREE = """AND (r.match IS NULL OR r.match <> ALL (ARRAY(
    SELECT h.match FROM items h WHERE h.queue_id = $1 AND h.match IS NOT NULL
      AND (h.lease_until IS NOT NULL OR (h.visible_at IS NOT NULL AND h.pos < 0)))))"""
# A leased take of an ordered queue gets one item per group (the contract's "Ordered
# keys"): its head, no takeable item of its key ahead of it (the probe of a later item
# stops at the head, found first in `items_ready_key`).
_ONE_PER_GROUP = """AND (r.match IS NULL OR NOT EXISTS (
    SELECT 1 FROM items f WHERE f.queue_id = $1 AND f.match = r.match AND f.pos < r.pos
      AND f.lease_until IS NULL AND f.visible_at IS NULL
      AND (f.ttl_at IS NULL OR f.ttl_at > $3)))"""
# The take order (contract.take_order): on an ordered queue by position only.
_ORDER = {False: "priority DESC, pos", True: "pos"}
# Takes of one ordered queue, on any node, go one at a time (under this lock, as their
# transaction's first statement): the next one's statement sees what the last one put
# in flight. Its rows are locked without SKIP LOCKED: a group's head that a redrive has
# locked is waited for, not passed over for the item behind it.
LOCK_ORDERED = "SELECT pg_advisory_xact_lock(hashtext($1), ($2 % 2147483647)::int)"


def _ready(keyed: bool, locked: bool, ordered: bool = False, leased: bool = False) -> str:
    query = _READY.format(key="AND match = $4" if keyed else "",
                          paused=_NOT_PAUSED if locked else "",
                          free=_FREE if ordered else "",
                          one=_ONE_PER_GROUP if ordered and leased else "",
                          order=_ORDER[ordered])  # fmt: skip
    if not locked:
        return query
    return query + (" FOR UPDATE" if ordered else " FOR UPDATE SKIP LOCKED")


def _take(keyed: bool, ordered: bool) -> str:
    return f"""
WITH chosen AS ({_ready(keyed, True, ordered)})
DELETE FROM items i USING chosen c WHERE i.pos = c.pos RETURNING {TAKEN}"""


def _lease(keyed: bool, ordered: bool) -> str:
    until, token = ("$5", "$6") if keyed else ("$4", "$5")
    return f"""
WITH chosen AS ({_ready(keyed, True, ordered, leased=True)})
UPDATE items i SET lease_until = {until}, attempts = i.attempts + 1, receipt = {token}
FROM chosen c WHERE i.pos = c.pos RETURNING {ITEM}"""


_BOTH = (False, True)
#: Take statements by (leased, keyed, ordered). Parameters: queue, count, now, [match],
#: [until, receipt token].
TAKE = {
    (leased, keyed, ordered): (_lease if leased else _take)(keyed, ordered)
    for leased in _BOTH for keyed in _BOTH for ordered in _BOTH
}  # fmt: skip
#: Peek statements by (keyed, ordered): the head, without locking it.
PEEK = {
    (keyed, ordered): f"SELECT {ITEM} FROM items i WHERE pos = ({_ready(keyed, False, ordered)})"
    for keyed in _BOTH for ordered in _BOTH
}  # fmt: skip

QUEUE_ID_OF = "SELECT id FROM queues WHERE id = $1"
QUEUE_ID_BY_NAME = "SELECT id FROM queues WHERE name = $1"

# Leases named by (item id, receipt token or NULL for whatever lease the item has), as
# two arrays: a live lease (`lease_until > now`, disqueue.core.contract.lease_live)
# whose token matches (contract.names_lease). Each returns the leases it found.
_REFS = "unnest($2::text[], $3::text[]) AS r (id, token)"
_LIVE = """i.queue_id = $1 AND i.id = r.id AND i.lease_until > $4
  AND (r.token IS NULL OR i.receipt = r.token)"""
ACK = f"DELETE FROM items i USING {_REFS} WHERE {_LIVE} RETURNING i.id, i.receipt"
TOUCH = f"UPDATE items i SET lease_until = $5 FROM {_REFS} WHERE {_LIVE} RETURNING i.id, i.receipt"
LEASED = """
SELECT i.pos, i.queue_id, i.attempts, i.ttl_at, q.name, q.max_attempts, q.dead_letter,
       q.retry_delays, q.ordered
FROM items i
JOIN queues q ON q.id = i.queue_id
WHERE i.queue_id = $1 AND i.id = $2 AND i.lease_until > $3
  AND ($4::text IS NULL OR i.receipt = $4) FOR UPDATE OF i"""

# A lease that ended without an ack: back to the front (visible again after a delay),
# or after the last attempt on to the dead-letter queue's back, or dropped.
REQUEUE = """
UPDATE items SET pos = -nextval('items_front'), lease_until = NULL, visible_at = $2
WHERE pos = $1"""
MOVE = """
UPDATE items SET queue_id = $2, pos = nextval('items_back'), lease_until = NULL,
                 visible_at = NULL, ttl_at = NULL, dead_letter_from = $3
WHERE pos = $1"""

# A redrive (contract.redrive_target): the ready dead letters in take order (by whether
# the dead-letter queue is ordered), locked; then each to the back of its target,
# attempts reset, where it came from forgotten.
REDRIVE_READY = {
    ordered: f"""
SELECT pos, dead_letter_from FROM items
WHERE queue_id = $1 AND lease_until IS NULL AND visible_at IS NULL
ORDER BY {_ORDER[ordered]} FOR UPDATE SKIP LOCKED"""
    for ordered in _BOTH
}
REDRIVE = """
UPDATE items i SET queue_id = u.queue_id, pos = u.new, attempts = 0, ttl_at = NULL,
                   dead_letter_from = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u (pos, queue_id, new)
WHERE i.pos = u.pos"""
DROP_ITEM = "DELETE FROM items WHERE pos = $1"

# Ready and delayed items; with $2 (in_flight) those in flight too (contract.purged).
PURGE = """
WITH gone AS (DELETE FROM items WHERE queue_id = $1 AND ($2 OR lease_until IS NULL) RETURNING 1)
SELECT count(*) FROM gone"""

# -- what any node does when deadlines pass ---------------------------------------------

# In the contract's order (disqueue.core.contract.due_order): by time, and leases ending
# together from the back, so that they reach the front in their order.
EXPIRED_LEASES = """
SELECT i.pos, i.queue_id, i.attempts, i.ttl_at, q.name, q.max_attempts, q.dead_letter,
       q.retry_delays, q.ordered
FROM items i
JOIN queues q ON q.id = i.queue_id
WHERE i.lease_until <= $1 ORDER BY i.lease_until, i.pos DESC LIMIT $2
FOR UPDATE OF i SKIP LOCKED"""
DELAYS_DUE = """
SELECT pos, queue_id, visible_at FROM items WHERE visible_at <= $1
ORDER BY visible_at, pos LIMIT $2 FOR UPDATE SKIP LOCKED"""
# A delayed item becomes ready with a fresh position (contract.delay_end_front), chosen
# by the node in the contract's order: old and new positions as two arrays.
DELAYS_ENDED = """
UPDATE items i SET pos = u.new, visible_at = NULL
FROM unnest($1::bigint[], $2::bigint[]) AS u (old, new) WHERE i.pos = u.old"""
FRONT_POSITIONS = "SELECT -nextval('items_front') FROM generate_series(1, $1)"
TTLS_ENDED = """
DELETE FROM items i USING (
    SELECT pos FROM items WHERE ttl_at <= $1 AND lease_until IS NULL
    LIMIT $2 FOR UPDATE SKIP LOCKED) d
WHERE i.pos = d.pos RETURNING i.queue_id, i.pos, i.visible_at"""
NEXT_DEADLINE = """
SELECT LEAST((SELECT min(lease_until) FROM items WHERE lease_until IS NOT NULL),
             (SELECT min(visible_at) FROM items WHERE visible_at IS NOT NULL),
             (SELECT min(ttl_at) FROM items WHERE ttl_at IS NOT NULL AND lease_until IS NULL))"""
NAMES_OF = "SELECT id, name FROM queues WHERE id = ANY($1::bigint[])"
# Of the queues some consumer here waits on, those with ready items (the safety net
# for a notification that never came).
HAVE_READY = """
SELECT q.name FROM queues q WHERE q.name = ANY($1::text[]) AND EXISTS (
    SELECT 1 FROM items WHERE queue_id = q.id AND lease_until IS NULL AND visible_at IS NULL)"""

ADD_TOTALS = """
UPDATE queues SET put_total = put_total + $2, taken_total = taken_total + $3,
                  acked_total = acked_total + $4, expired_total = expired_total + $5,
                  dead_lettered_total = dead_lettered_total + $6
WHERE id = $1"""

NOTIFY = "SELECT pg_notify($1, message) FROM unnest($2::text[]) AS message"

# The nodes sharing the schema (node.py): a node's sign of life (its row made anew if a
# node that thought it gone deleted it), the rows of nodes gone quiet for $1 seconds, the
# others, and a clean close.
NODE_SEEN = """
INSERT INTO nodes (id, host, pid, started) VALUES ($1, $2, $3, to_timestamp($4))
ON CONFLICT (id) DO UPDATE SET last_seen = now()"""
NODES_GONE = "DELETE FROM nodes WHERE last_seen < now() - make_interval(secs => $1)"
NODES = """
SELECT id, host, pid, extract(epoch FROM started)::float8 AS started,
       extract(epoch FROM last_seen)::float8 AS last_seen
FROM nodes WHERE last_seen >= now() - make_interval(secs => $1) ORDER BY started, id"""
NODE_LEFT = "DELETE FROM nodes WHERE id = $1"
