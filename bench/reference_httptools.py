"""A second ceiling: a bare uvloop protocol on httptools (the llhttp parser), no framework.

For every POST it parses the form body and answers the same small JSON envelope as
reference_app.py; `GET /health` answers 200. Keep-alive, nothing else: no routing, no
limits, no hostile-input answers. Its row beside the aiohttp reference says what the
web framework's per-request machinery costs, the rest of the gap to a C server.

Run: python bench/reference_httptools.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import urllib.parse
from typing import Any

import httptools
import orjson

BODY = orjson.dumps({"success": True, "message": None, "payload": None})
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


class Reference(asyncio.Protocol):
    """One connection: parse each request, answer it at once."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's, not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        urllib.parse.parse_qs(b"".join(self.body).decode())  # what a form POST costs
        self.body.clear()
        self.transport.write(ANSWER)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Reference, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
