"""The SQS actions on queues, and the table of every action (`ACTIONS`).

Each action takes the request's `Context` and its parameters (the JSON protocol's
shape, whichever protocol carried them) and answers the JSON protocol's result; each
does its work through `QueueService`, as the other edges do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from disqueue.auth.permissions import MANAGE, READ, WRITE
from disqueue.errors import Conflict, QueueNotFound
from disqueue.models import QueueSettings
from disqueue.server.sqs import message_actions, queues
from disqueue.server.sqs.context import Context, integer, text
from disqueue.server.sqs.errors import SqsError, invalid, no_queue
from disqueue.server.sqs.queues import Extras

Run = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


def _fifo(params: dict[str, Any]) -> bool:
    attributes = params.get("Attributes")
    value = attributes.get("FifoQueue") if isinstance(attributes, dict) else None
    return isinstance(value, str) and value.lower() == "true"


async def create_queue(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A queue of SQS's defaults and the given attributes; the existing one if its
    attributes are the given ones (else QueueNameExists)."""
    fifo = _fifo(params)
    name = queues.check_name(params.get("QueueName"), fifo)
    ctx.require(MANAGE, name)
    wanted = queues.created(params.get("Attributes"), fifo)
    if wanted.dead_letter is not None:
        await _check_letters(ctx, wanted.dead_letter, fifo)
    tags = _tags(params.get("tags", params.get("Tags")))
    if tags:
        extras = Extras.of(wanted)
        wanted = replace(wanted, extras=replace(extras, tags=tags).text())
    if not await _exists(ctx, name):
        try:
            return {"QueueUrl": ctx.url(await ctx.service.create_queue(name, wanted))}
        except Conflict:  # made meanwhile by another request: compared below, as AWS does
            pass
    await _same(ctx, name, wanted, params.get("Attributes") or {}, fifo)
    return {"QueueUrl": ctx.url(ctx.service.names.parse(name))}


async def _same(
    ctx: Context, name: str, wanted: QueueSettings, given: dict[str, Any], fifo: bool
) -> None:
    """QueueNameExists unless the existing queue has the attributes a CreateQueue gives
    (those it does not give, its tags and its LastModifiedTimestamp are not compared)."""
    current = await ctx.service.settings(name)
    info = await ctx.service.info(name)
    now, mine = (queues.report(info, s, name, "", "") for s in (current, wanted))
    if _fifo_of(current) != fifo or any(now.get(k) != mine.get(k) for k in given):
        raise SqsError(
            "QueueNameExists",
            "A queue already exists with the same name and a different value for attribute(s).",
        )


def _fifo_of(settings: Any) -> bool:
    return Extras.of(settings).attributes.get("FifoQueue") == "true"


async def _exists(ctx: Context, name: str) -> bool:
    try:
        await ctx.service.settings(name)
    except QueueNotFound:
        return False
    return True


async def _check_letters(ctx: Context, letters: str, fifo: bool) -> None:
    """A RedrivePolicy's target: a queue that exists, of the same kind, writable."""
    ctx.require(WRITE, letters)
    reason = None
    if not await _exists(ctx, letters):
        reason = "Dead letter target does not exist."
    elif _fifo_of(await ctx.service.settings(letters)) != fifo:
        reason = "Dead-letter queue must be same type of queue as the source."
    if reason is not None:
        raise invalid(f"Value for parameter RedrivePolicy is invalid. Reason: {reason}")


async def get_queue_url(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = text(params, "QueueName", required=True)
    assert name is not None
    queue = ctx.queue({"QueueUrl": name}, READ)
    if not await _exists(ctx, queue):
        raise no_queue()
    return {"QueueUrl": ctx.url(queue)}


def _page(names: list[str], params: dict[str, Any]) -> tuple[list[str], str | None]:
    """One page of `names` (MaxResults, NextToken) and the token of the next one."""
    limit = integer(params, "MaxResults", 1, 1000, "Must be between 1 and 1000, if provided.")
    token = text(params, "NextToken")
    start = 0
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise invalid("Invalid NextToken value.") from None
        start = next((i for i, name in enumerate(names) if name > after), len(names))
    end = start + (limit or 1000)
    page = names[start:end]
    more = limit is not None and end < len(names)
    return page, base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None


async def list_queues(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    prefix = text(params, "QueueNamePrefix") or ""
    names = sorted(name for name in await ctx.service.queues() if name.startswith(prefix))
    if ctx.access is not None:
        names = ctx.access.visible(names)
    page, token = _page(names, params)
    result: dict[str, Any] = {}
    if page:
        result["QueueUrls"] = [ctx.url(name) for name in page]
    if token:
        result["NextToken"] = token
    return result


async def delete_queue(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    await ctx.service.delete_queue(ctx.queue(params, MANAGE))
    return {}


async def purge_queue(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Every message goes, those in flight too (their receipts then name nothing)."""
    await ctx.service.purge(ctx.queue(params, MANAGE), in_flight=True)
    return {}


_ALL_NAMES = {"All"}


async def get_queue_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.queue(params, READ)
    asked = params.get("AttributeNames") or []
    if not isinstance(asked, list):
        raise invalid("AttributeNames must be a list.")
    settings, info = await ctx.service.settings(name), await ctx.service.info(name)
    every = queues.report(info, settings, name, ctx.config.region, ctx.config.account)
    known = queues.SETTABLE | queues.READ_ONLY | _ALL_NAMES
    for attribute in asked:
        if attribute not in known:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {attribute}.")
    if "All" in asked:
        return {"Attributes": every}
    chosen = {key: every[key] for key in asked if key in every}
    return {"Attributes": chosen} if chosen else {}


async def set_queue_attributes(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The attributes change at once, for the messages already queued too, on every node
    (`POST /queue/settings`)."""
    name = ctx.queue(params, MANAGE)
    attributes = params.get("Attributes")
    if attributes is None:
        raise SqsError("MissingParameter", "The request must contain the parameter Attributes.")
    current = await ctx.service.settings(name)
    fifo = _fifo_of(current)
    settings = queues.apply(current, attributes, fifo)
    if settings.dead_letter is not None and settings.dead_letter != current.dead_letter:
        await _check_letters(ctx, settings.dead_letter, fifo)
    changes = {
        field: getattr(settings, field)
        for field in ("lease", "ttl", "delay", "max_attempts", "dead_letter", "extras")
    }
    await ctx.service.change_settings(name, **changes)
    return {}


async def list_dead_letter_source_queues(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.queue(params, READ)
    sources = sorted(await ctx.service.dead_letter_sources(name))
    page, token = _page(sources, params)
    result: dict[str, Any] = {"queueUrls": [ctx.url(source) for source in page]}
    if token:
        result["NextToken"] = token
    return result


def _tags(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 128 and len(v) <= 256
        for k, v in raw.items()
    ):
        raise invalid("Tag keys must have 1 to 128 characters, values up to 256.")
    return raw


async def tag_queue(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.queue(params, MANAGE)
    tags = _tags(params.get("Tags"))
    if not tags:
        raise SqsError("MissingParameter", "The request must contain the parameter Tags.")
    extras = Extras.of(await ctx.service.settings(name))
    merged = {**extras.tags, **tags}
    if len(merged) > queues.MAX_TAGS:
        raise invalid(f"Too many tags added for queue {name}.")
    await ctx.service.change_settings(name, extras=replace(extras, tags=merged).text())
    return {}


async def untag_queue(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = ctx.queue(params, MANAGE)
    keys = params.get("TagKeys")
    if not isinstance(keys, list) or not keys:
        raise SqsError("MissingParameter", "The request must contain the parameter TagKeys.")
    extras = Extras.of(await ctx.service.settings(name))
    kept = {k: v for k, v in extras.tags.items() if k not in keys}
    await ctx.service.change_settings(name, extras=replace(extras, tags=kept).text())
    return {}


async def list_queue_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = Extras.of(await ctx.service.settings(ctx.queue(params, READ))).tags
    return {"Tags": tags} if tags else {}


ACTIONS: dict[str, Run] = {
    "CreateQueue": create_queue,
    "GetQueueUrl": get_queue_url,
    "ListQueues": list_queues,
    "DeleteQueue": delete_queue,
    "GetQueueAttributes": get_queue_attributes,
    "SetQueueAttributes": set_queue_attributes,
    "PurgeQueue": purge_queue,
    "ListDeadLetterSourceQueues": list_dead_letter_source_queues,
    "TagQueue": tag_queue,
    "UntagQueue": untag_queue,
    "ListQueueTags": list_queue_tags,
    **message_actions.ACTIONS,
}
