"""The ceiling: the least an aiohttp server can do for the same requests.

Every POST parses its form body and answers the protocol's small JSON envelope;
`GET /take/ws` answers each want at once with a made-up item. Disqueue's rows are
divided by the matching rows measured against this app in the same run.

Run: python bench/reference_app.py --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import orjson
from aiohttp import WSMsgType, web

ITEM = {"key": None, "value": "v" * 100}


async def post(request: web.Request) -> web.Response:
    """Parse the form like a put or take would, answer a small JSON object."""
    await request.post()
    body = orjson.dumps({"success": True, "message": None, "payload": None})
    return web.Response(body=body, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b'{"success":true,"message":null,"payload":null}')


async def take_ws(request: web.Request) -> web.WebSocketResponse:
    """Answer each want `{"identifier": X, ...}` at once with one item."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            continue
        want = orjson.loads(message.data)
        payload = {"id": want["identifier"], "item": ITEM}
        answer = {"success": True, "message": None, "payload": payload}
        await ws.send_str(orjson.dumps(answer).decode())
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/take/ws", take_ws)
    app.router.add_post("/{path:.*}", post)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    # The same event loop as the server: uvloop when it is installed.
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
