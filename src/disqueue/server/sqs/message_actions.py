"""The SQS actions on messages: send, receive, delete, change visibility (one or a
batch), over the core's put, take with a lease, ack, release and touch.

ReceiptHandle = the delivery's receipt, VisibilityTimeout = the lease (0: released at
once), ApproximateReceiveCount = attempts, MessageId = the item's id. A FIFO queue's
MessageGroupId is the item's key, its MessageDeduplicationId (or the body's SHA-256 with
ContentBasedDeduplication) the put's `dedup_id`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from disqueue.auth.permissions import READ, WRITE
from disqueue.core import contract
from disqueue.core.contract import LeaseRef
from disqueue.core.service import lease_of
from disqueue.errors import DisqueueError
from disqueue.models import Item, NewItem
from disqueue.server.sqs import md5, messages, queues
from disqueue.server.sqs.context import Context, integer, text
from disqueue.server.sqs.errors import SqsError, invalid, missing, of_core
from disqueue.server.sqs.queues import Extras

MAX_BATCH = 10
_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_DEDUP = re.compile(r"[!-~]{1,128}")
_SYSTEM = {
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
}


class _Queue:
    """What sends and receives need to know of a queue."""

    def __init__(self, name: str, settings: Any) -> None:
        self.name = name
        extras = Extras.of(settings).attributes
        self.fifo = extras.get("FifoQueue") == "true"
        self.content_dedup = extras.get("ContentBasedDeduplication") == "true"
        self.dedup_per_group = extras.get("DeduplicationScope") == "messageGroup"
        self.max_size = int(extras.get("MaximumMessageSize", queues.DEFAULT_MAX_SIZE))
        self.wait = int(extras.get("ReceiveMessageWaitTimeSeconds", 0))
        visibility = extras.get("VisibilityTimeout")
        lease = settings.lease if settings.lease is not None else queues.DEFAULT_VISIBILITY
        self.visibility = float(visibility) if visibility is not None else float(lease)


async def _queue(ctx: Context, params: dict[str, Any], right: Any) -> _Queue:
    name = ctx.queue(params, right)
    return _Queue(name, await ctx.service.settings(name))


# -- send --------------------------------------------------------------------------------


def _new_item(ctx: Context, queue: _Queue, entry: dict[str, Any]) -> tuple[NewItem, dict[str, Any]]:
    """The item a send puts, and what its answer says (digests, sequence number)."""
    body = entry.get("MessageBody")
    if body is None:
        raise missing("MessageBody")
    if not isinstance(body, str) or not body:
        raise invalid("The request must contain a non-empty MessageBody.")
    messages.check_text(body, "the message body")
    headers = messages.to_headers(entry.get("MessageAttributes"))
    answer: dict[str, Any] = {"MD5OfMessageBody": md5.body_md5(body)}
    attributes = messages.from_headers(headers)
    if attributes:
        answer["MD5OfMessageAttributes"] = md5.attributes_md5(messages.digestible(attributes))
    system = entry.get("MessageSystemAttributes")
    if system:
        trace = system.get("AWSTraceHeader") if isinstance(system, dict) else None
        if (
            not isinstance(trace, dict)
            or set(system) != {"AWSTraceHeader"}
            or trace.get("DataType") != "String"
            or not trace.get("StringValue")
        ):
            raise invalid(
                "Message system attribute AWSTraceHeader is the only one supported, as a String."
            )
        headers[messages.TRACE] = str(trace["StringValue"])
        answer["MD5OfMessageSystemAttributes"] = md5.attributes_md5(system)
    if messages.size(body, headers) > queue.max_size:
        raise invalid(
            f"One or more parameters are invalid. Reason: Message must be shorter "
            f"than {queue.max_size} bytes."
        )
    delay = integer(entry, "DelaySeconds", 0, 900, "Must be >= 0 and <= 900, if provided.")
    group = text(entry, "MessageGroupId")
    dedup = text(entry, "MessageDeduplicationId")
    headers[messages.SENT] = str(int(time.time() * 1000))
    if queue.fifo:
        if delay:
            raise invalid(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: The "
                "request include parameter that is not valid for this queue type."
            )
        if group is None:
            raise missing("MessageGroupId")
        if not _DEDUP.fullmatch(group):
            raise invalid(
                "MessageGroupId can only include alphanumeric and punctuation "
                "characters. 1 to 128 in length."
            )
        if dedup is None:
            if not queue.content_dedup:
                raise invalid(
                    "The queue should either have ContentBasedDeduplication enabled "
                    "or MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(body.encode("utf-8")).hexdigest()
        elif not _DEDUP.fullmatch(dedup):
            raise invalid(
                "MessageDeduplicationId can only include alphanumeric and "
                "punctuation characters. 1 to 128 in length."
            )
        answer["SequenceNumber"] = headers[messages.SEQUENCE] = ctx.sequencer.next()
        headers[messages.DEDUP] = dedup
    elif dedup is not None:
        raise invalid(
            "Value for parameter MessageDeduplicationId is invalid. Reason: The "
            "request include parameter that is not valid for this queue type."
        )
    else:
        group = None  # a standard queue's groups order nothing
    item = NewItem(
        body,
        key=group,
        delay=float(delay) if delay else None,
        dedup_id=_dedup_key(queue, group, dedup),
        headers=headers,
    )
    return item, answer


def _dedup_key(queue: _Queue, group: str | None, dedup: str | None) -> str | None:
    """The put's `dedup_id`: the MessageDeduplicationId, within its group when the queue's
    DeduplicationScope is messageGroup (a newline is in no id: the two cannot run together)."""
    if dedup is None or not queue.dedup_per_group:
        return dedup
    return f"{group}\n{dedup}"


async def send_message(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    queue = await _queue(ctx, params, WRITE)
    item, answer = _new_item(ctx, queue, params)
    return {**answer, "MessageId": await ctx.service.put(queue.name, item)}


def _entries(params: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """A batch's entries, checked as SQS does (1 to 10, ids valid and distinct)."""
    entries = params.get("Entries")
    if not entries:
        raise SqsError(
            "EmptyBatchRequest",
            f"There should be at least one {kind}BatchRequestEntry in the request.",
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise invalid("Entries must be a list of structures.")
    if len(entries) > MAX_BATCH:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _ENTRY_ID.fullmatch(entry_id):
            raise SqsError(
                "InvalidBatchEntryId",
                "A batch entry id can only contain "
                "alphanumeric characters, hyphens and underscores. It can be at "
                "most 80 letters long.",
            )
        if entry_id in seen:
            raise SqsError("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries


def _failed(entry_id: str, exc: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": exc.sender, "Code": exc.code, "Message": exc.message}


async def send_message_batch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Entries that are valid are stored together; each invalid one fails alone."""
    queue = await _queue(ctx, params, WRITE)
    entries = _entries(params, "SendMessage")
    good: list[tuple[str, NewItem, dict[str, Any]]] = []
    failed = []
    total = 0
    for entry in entries:
        try:
            item, answer = _new_item(ctx, queue, entry)
        except SqsError as exc:
            failed.append(_failed(entry["Id"], exc))
            continue
        total += messages.size(item.value, item.headers or {})
        good.append((entry["Id"], item, answer))
    if total > queues.DEFAULT_MAX_SIZE:  # AWS's limit of a batch, whatever the queue's
        raise SqsError(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {queues.DEFAULT_MAX_SIZE} bytes. "
            f"You have sent {total} bytes.",
        )
    ids = await ctx.service.put_many(queue.name, [item for _, item, _ in good]) if good else []
    successful = [
        {"Id": entry_id, "MessageId": item_id, **answer}
        for (entry_id, _, answer), item_id in zip(good, ids, strict=True)
    ]
    return {"Successful": successful, "Failed": failed}


# -- receive ------------------------------------------------------------------------------


def _system(ctx: Context, item: Item, names: set[str]) -> dict[str, str]:
    headers = item.headers or {}
    every = "All" in names
    facts = {
        "SenderId": ctx.config.account,
        "ApproximateReceiveCount": str(item.attempts),
        "SentTimestamp": headers.get(messages.SENT),
        "ApproximateFirstReceiveTimestamp": ctx.first_receipts.stamp(
            item.id, item.attempts, headers.get(messages.SENT)
        ),
        "SequenceNumber": headers.get(messages.SEQUENCE),
        "MessageDeduplicationId": headers.get(messages.DEDUP),
        "MessageGroupId": item.key if messages.SEQUENCE in headers else None,
        "AWSTraceHeader": headers.get(messages.TRACE),
        "DeadLetterQueueSourceArn": None
        if item.dead_letter_from is None
        else queues.arn(ctx.config.region, ctx.config.account, item.dead_letter_from),
    }
    return {k: v for k, v in facts.items() if v is not None and (every or k in names)}


def _message(ctx: Context, item: Item, params: dict[str, Any]) -> dict[str, Any]:
    names = set(params.get("AttributeNames") or []) | set(
        params.get("MessageSystemAttributeNames") or []
    )
    message: dict[str, Any] = {
        "MessageId": item.id,
        "ReceiptHandle": item.receipt,
        "MD5OfBody": md5.body_md5(item.value),
        "Body": item.value,
    }
    system = _system(ctx, item, names)
    if system:
        message["Attributes"] = system
    chosen = messages.select(
        messages.from_headers(item.headers), messages.wanted(params.get("MessageAttributeNames"))
    )
    if chosen:
        message["MessageAttributes"] = chosen
        message["MD5OfMessageAttributes"] = md5.attributes_md5(messages.digestible(chosen))
    return message


async def receive_message(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    queue = await _queue(ctx, params, READ)
    count = integer(params, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided.")
    wait = integer(params, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
    visibility = integer(
        params, "VisibilityTimeout", 0, 43_200, "Must be >= 0 and <= 43200, if provided."
    )
    seconds = float(visibility) if visibility is not None else queue.visibility
    items = await ctx.service.take_many(
        queue.name,
        count=count or 1,
        lease=seconds or float(queues.DEFAULT_VISIBILITY),
        wait=float(queue.wait if wait is None else wait),
        gone=ctx.gone,
    )
    result = {"Messages": [_message(ctx, item, params) for item in items]}
    if not seconds and items:  # visible again at once: the receipts name nothing then
        await ctx.service.release_many(queue.name, [lease_of(item) for item in items], 0.0)
    return result if items else {}


# -- the ends of a lease ------------------------------------------------------------------------


def _ref(handle: Any) -> LeaseRef:
    ref = contract.parse_receipt(handle) if isinstance(handle, str) else None
    if ref is None:
        raise SqsError(
            "ReceiptHandleIsInvalid",
            f'The input receipt handle "{handle}" is not a valid receipt handle.',
        )
    return ref


async def delete_message(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Deleting a message already gone (or whose lease ran out) succeeds, as on AWS."""
    name = ctx.queue(params, READ)
    handle = params.get("ReceiptHandle")
    if handle is None:
        raise missing("ReceiptHandle")
    await ctx.service.ack_many(name, [_ref(handle)])
    return {}


async def _batch(
    ctx: Context,
    params: dict[str, Any],
    kind: str,
    each: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
) -> dict[str, Any]:
    name = ctx.queue(params, READ)
    await ctx.service.settings(name)  # a queue that does not exist fails the whole batch
    successful, failed = [], []
    for entry in _entries(params, kind):
        try:
            await each(name, entry)
        except SqsError as exc:
            failed.append(_failed(entry["Id"], exc))
        except DisqueueError as exc:
            failed.append(_failed(entry["Id"], of_core(exc)))
        else:
            successful.append({"Id": entry["Id"]})
    return {"Successful": successful, "Failed": failed}


async def delete_message_batch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.queue(params, READ)
    entries = _entries(params, "DeleteMessage")
    refs: list[LeaseRef] = []
    successful, failed = [], []
    for entry in entries:
        try:
            refs.append(_ref(entry.get("ReceiptHandle")))
            successful.append({"Id": entry["Id"]})
        except SqsError as exc:
            failed.append(_failed(entry["Id"], exc))
    if refs:
        await ctx.service.ack_many(name, refs)
    return {"Successful": successful, "Failed": failed}


async def _change(ctx: Context, name: str, handle: Any, raw: dict[str, Any]) -> None:
    ref = _ref(handle)
    seconds = integer(raw, "VisibilityTimeout", 0, 43_200, "Must be >= 0 and <= 43200.")
    if seconds is None:
        raise missing("VisibilityTimeout")
    if seconds == 0:
        found = (await ctx.service.release_many(name, [ref], 0.0))[0]
    else:
        found = (await ctx.service.touch_many(name, [ref], float(seconds)))[0] is not None
    if not found:
        raise SqsError(
            "MessageNotInflight",
            "Message does not exist or is not available for visibility timeout change.",
        )


async def change_message_visibility(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A new visibility timeout from now (= touch); 0 makes it visible at once (= release)."""
    name = ctx.queue(params, READ)
    handle = params.get("ReceiptHandle")
    if handle is None:
        raise missing("ReceiptHandle")
    await _change(ctx, name, handle, params)
    return {}


async def change_message_visibility_batch(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async def change(name: str, entry: dict[str, Any]) -> None:
        await _change(ctx, name, entry.get("ReceiptHandle"), entry)

    return await _batch(ctx, params, "ChangeMessageVisibility", change)


ACTIONS = {
    "SendMessage": send_message,
    "SendMessageBatch": send_message_batch,
    "ReceiveMessage": receive_message,
    "DeleteMessage": delete_message,
    "DeleteMessageBatch": delete_message_batch,
    "ChangeMessageVisibility": change_message_visibility,
    "ChangeMessageVisibilityBatch": change_message_visibility_batch,
}
