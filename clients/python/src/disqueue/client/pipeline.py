"""`AsyncClient.put_many` of more than one batch: the batches pipelined on a WebSocket.

Over HTTP each batch waits for the answer to the one before, and that answer waits for
the batch's commit (fsync): the client's encoding and the server's parsing of batch N+1
wait for batch N's disk. On `/take/ws` the server starts a connection's next message
while the last one commits, stores its puts in the order they were sent, and answers
each once it is stored (docs/API.md "WebSocket put"). So up to `WINDOW` batches are
sent ahead of their answers, and batches sent together may share one commit.

If the socket cannot be opened, the batches go over HTTP one after another (the server
answers there what it has to say: wrong credentials, too many connections). A batch
that fails stops the sending; put_many raises its error once every batch sent
is answered. The batches before it are stored, it is not (a batch is stored whole or
not at all), and of the at most `WINDOW - 1` sent after it each may be stored.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp
import orjson

from disqueue.client import calls
from disqueue.client.calls import NewItem
from disqueue.client.errors import (
    ClientError,
    ConnectionFailed,
    TooLarge,
    error_for,
)
from disqueue.client.opsocket import open_socket
from disqueue.client.options import Options

#: Batches of one put_many on their way at once (sent, not yet answered).
WINDOW = 4


async def put_batches(options: Options, queue: str, batches: Iterable[list[NewItem]]) -> list[str]:
    """Put `batches` in order on a WebSocket of their own; the ids of their items.
    Raises `NoSocket` if the socket cannot be opened."""
    async with aiohttp.ClientSession() as session:
        ws = await open_socket(
            session, options, headers=options.auth_headers, ssl=options.ssl_context or True
        )
        try:
            async with ws:
                return await _put(ws, queue, batches, options.timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ConnectionFailed(
                f"cannot reach {options.ws_url}: {exc or type(exc).__name__}"
            ) from exc


async def _put(
    ws: aiohttp.ClientWebSocketResponse,
    queue: str,
    batches: Iterable[list[NewItem]],
    patience: float,  # seconds an answer may take
) -> list[str]:
    stored: dict[int, list[str]] = {}  # batch number → its ids
    failure: ClientError | None = None
    waiting: set[int] = set()  # batches sent and not answered
    pending = iter(batches)
    sent = 0
    while True:
        while failure is None and len(waiting) < WINDOW:
            batch = next(pending, None)
            if batch is None:
                break
            frame = {"op": "put", "identifier": sent, "queue": queue, "items": calls.entries(batch)}
            await ws.send_str(orjson.dumps(frame).decode())
            waiting.add(sent)
            sent += 1
        if not waiting:
            break
        message = await ws.receive(patience)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise _closed(ws)
        answer = orjson.loads(message.data)
        payload = answer.get("payload")
        number = payload.get("id") if isinstance(payload, dict) else None
        if number not in waiting:  # an error that answers no batch ("failed to read message")
            raise error_for(None, str(answer.get("message") or "unexpected answer"))
        waiting.discard(number)
        if answer.get("success"):
            stored[number] = calls.stored_ids(payload)
        elif failure is None:
            status = payload.get("status")  # that of the same failure over HTTP
            reason = str(answer.get("message") or "error")
            failure = error_for(status if isinstance(status, int) else None, reason)
    if failure is not None:
        raise failure
    return [item_id for number in range(sent) for item_id in stored[number]]


def _closed(ws: aiohttp.ClientWebSocketResponse) -> ClientError:
    """The error of a connection the server closed before every batch was answered."""
    if ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
        return TooLarge("request body too large", 413)  # as HTTP answers a body that size
    return ConnectionFailed(f"connection closed ({ws.close_code}) before every batch was answered")
