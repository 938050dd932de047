"""Fuzzing: thousands of random and malformed requests to every endpoint, over HTTP,
raw sockets and WebSocket. Whatever arrives, the server answers no 5xx, answers every
HTTP request it answers in the JSON envelope, keeps serving, and loses no queued item.

The inputs come from a seeded random generator (the seed is in the failure message),
so a failure can be replayed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import aiohttp
import pytest

from tests import pg

from .helpers import Api, Server, check_envelope, running, ws_url

SEED = int(os.environ.get("FUZZ_SEED", time.time_ns() % 1_000_000))
HTTP_REQUESTS = 3000
RAW_REQUESTS = 400
WS_CONNECTIONS = 20
WS_MESSAGES = 40  # per connection
BUDGET = 60.0  # seconds for the whole test

PATHS = [
    "/queues", "/queue", "/put", "/take", "/peek", "/ack", "/release", "/touch", "/purge",
    "/take/ws", "/health", "/stats", "/metrics", "/openapi.json", "/", "/ui",
    "/ui/dashboard.js", "/nope", "/queues/", "//put", "/put?", "/%00", "/put/../take",
]  # fmt: skip
#: What these paths answer with success is not the envelope (a page, a script,
#: Prometheus text, an OpenAPI document); their failures still are.
NOT_ENVELOPE = frozenset(
    {"/", "/ui", "/ui/dashboard.js", "/ui/dashboard.css", "/metrics", "/openapi.json"}
)
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
PARAMS = [
    "name", "value", "key", "id", "lease", "wait", "count", "delay", "ttl", "dedup_id",
    "max_attempts", "dead_letter", "max_items", "items", "identifier", "queue", "op",
]  # fmt: skip
NUMBERS = [
    "0", "-1", "1e309", "-1e309", "NaN", "nan", "inf", "-inf", "Infinity", "1e-400", "0x10",
    "9" * 400, "1_000", " 5 ", "5.", ".5", "+3", "1,5", "١٢", "2**64", "", "true", "null",
]  # fmt: skip


def fuzz_string(rng: random.Random) -> str:
    choice = rng.randrange(8)
    if choice == 0:
        return rng.choice(NUMBERS)
    if choice == 1:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(0, 30)))
    if choice == 2:
        return "x" * rng.choice([0, 1, 1023, 1024, 1025, 70_000])
    if choice == 3:
        return str(uuid.uuid4()).upper() if rng.random() < 0.5 else str(uuid.UUID(int=0))
    if choice == 4:
        return "".join(rng.choice("%&=+;#?/\\\"'<>{}[]\x00\x01\n\r\t ") for _ in range(10))
    if choice == 5:
        return rng.choice(["\ud800", "\udfff"])  # lone surrogates
    return "".join(rng.choice("abcXYZ019-_.:") for _ in range(rng.randrange(1, 40)))


def encoded(text: str) -> bytes:
    """UTF-8, lone surrogates included (as the invalid bytes they make)."""
    return text.encode("utf-8", "surrogatepass")


def fuzz_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.choice([0, -1, 2**63, -(2**63), 2**64 + 1, 10**30, 1.5, -0.0, 1e308])
    if choice in (2, 3, 4, 5):
        return fuzz_string(rng)
    if choice in (6, 7):
        return [fuzz_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(PARAMS): fuzz_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def fuzz_params(rng: random.Random, names: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for _ in range(rng.randrange(0, 6)):
        params[rng.choice(PARAMS)] = fuzz_string(rng)
    if rng.random() < 0.7:
        params["name"] = rng.choice(names)
    return params


def json_text(value: Any) -> str:
    """JSON with every non-ASCII character escaped (lone surrogates have no UTF-8)."""
    return json.dumps(value, ensure_ascii=True)


def fuzz_body(rng: random.Random, names: list[str]) -> tuple[bytes, dict[str, str]]:
    """A request body and its headers: form, JSON, broken JSON, bytes, multipart junk."""
    choice = rng.randrange(10)
    form = "application/x-www-form-urlencoded"
    if choice < 3:
        params = fuzz_params(rng, names)
        body = "&".join(
            f"{quote_from_bytes(k.encode())}={quote_from_bytes(encoded(str(v)))}"
            for k, v in params.items()
        )
        return body.encode(), {"Content-Type": form}
    if choice < 6:
        document: Any = fuzz_params(rng, names)
        if rng.random() < 0.3:
            document["items"] = [fuzz_json(rng) for _ in range(rng.randrange(0, 5))]
        if rng.random() < 0.2:
            document = fuzz_json(rng)
        return json_text(document).encode(), {"Content-Type": "application/json"}
    if choice == 6:
        broken = rng.choice(
            [b"{", b'{"name": NaN}', b'{"value": Infinity}', b"[" * 5000 + b"]" * 5000,
             b'{"a":' * 600 + b"1" + b"}" * 600, b'{"name": "\xff\xfe"}', b"\xef\xbb\xbf{}",
             b'{"name": "\\ud800"}', b"nul\x00l"]
        )  # fmt: skip
        return broken, {"Content-Type": "application/json"}
    if choice == 7:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        kind = rng.choice([form, "text/plain", "application/octet-stream", "application/json"])
        return junk, {"Content-Type": kind}
    if choice == 8:
        return b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff\r\n--x", {
            "Content-Type": rng.choice(["multipart/form-data; boundary=x", "multipart/form-data"])
        }
    encoding = rng.choice(["gzip", "deflate", "br", "identity, gzip", "zz"])
    return b"\x1f\x8b not gzip", {"Content-Type": form, "Content-Encoding": encoding}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """A server on a durable storage, with short timeouts for the raw cases."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    limits = {"idle_timeout": 2, "body_timeout": 2}
    if request.param == "postgres":
        with (
            pg.fresh_schema() as schema,
            running(folder, {"storage": pg.storage(schema), "limits": limits}) as s,
        ):
            yield s
        return
    with running(folder, {"storage": {"type": "sqlite"}, "limits": limits}) as s:
        yield s


class Failures:
    """Collects what broke the rules, to report all of it at once."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, what: str) -> None:
        if len(self.found) < 20:
            self.found.append(what if len(what) < 400 else what[:400] + "...")


async def fuzz_http(
    session: aiohttp.ClientSession, url: str, rng: random.Random, names: list[str], bad: Failures
) -> None:
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    query = ""
    if rng.random() < 0.3:
        query = "?" + "&".join(
            f"{rng.choice(PARAMS)}={quote_from_bytes(encoded(fuzz_string(rng)))}"
            for _ in range(rng.randrange(1, 4))
        )
    body, headers = fuzz_body(rng, names) if rng.random() < 0.8 else (b"", {})
    if method == "HEAD":
        body, headers = b"", {}  # an answer to HEAD has no body, even an error's
    try:
        async with session.request(
            method, url + path + query, data=body, headers=headers, allow_redirects=False
        ) as resp:
            raw = await resp.read()
            status = resp.status
            resp_headers = resp.headers
    except aiohttp.ClientResponseError as exc:
        # Known exception: a request line too long to parse cannot be known to be a
        # HEAD, so its 431 carries the envelope as a body (and closes the connection).
        if not (method == "HEAD" and "Data after `Connection: close`" in str(exc)):
            bad.add(f"{method} {path}{query[:80]}: {type(exc).__name__} {exc}")
        return
    except aiohttp.ClientError as exc:
        bad.add(f"{method} {path}{query[:80]} {headers}: {type(exc).__name__} {exc}")
        return
    if method == "HEAD" or status == 101 or (status == 200 and path in NOT_ENVELOPE):
        return
    try:
        check_envelope(status, resp_headers, raw)
        assert status < 500, f"status {status}"
    except AssertionError as exc:
        bad.add(f"{method} {path}{query[:80]} {headers} {body[:120]!r}: {exc}")


RAW_STARTS = [
    b"GET / HTTP/1.1\r\n", b"POST /put HTTP/1.1\r\n", b"GARBAGE\r\n", b"\x00\x01\x02",
    b"GET /queues HTTP/1.1\r\nHost: \xff\xfe\r\n", b"GET /\xff\xfe HTTP/1.1\r\n",
    b"POST /put HTTP/1.1\r\nContent-Length: -1\r\n",
    b"POST /put HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
    b"POST /put HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    b"POST /put HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
    b"GET /take/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    b"GET /take/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 99\r\nSec-WebSocket-Key: x\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 300, b"GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n",
    b"GET http://evil/ HTTP/1.1\r\n", b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n",
]  # fmt: skip


async def fuzz_raw(host: str, port: int, rng: random.Random, bad: Failures) -> None:
    """Bytes no HTTP client would send; any answer must be an envelope, never a 5xx."""
    raw = rng.choice(RAW_STARTS)
    if rng.random() < 0.5:
        raw += bytes(rng.randrange(256) for _ in range(rng.randrange(0, 100)))
    raw += b"\r\n\r\n" if rng.random() < 0.8 else b""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(65536), 5)
        except (TimeoutError, ConnectionError):
            return  # no answer (an incomplete request): the idle timeout closes it
        if not data:
            return
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        if status in (101, 426):
            return
        check_envelope(status, headers, body)
        assert status < 500, status
    except (AssertionError, ValueError, IndexError) as exc:
        bad.add(f"raw {raw[:120]!r}: {type(exc).__name__} {exc}")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def fuzz_websocket(
    session: aiohttp.ClientSession, url: str, rng: random.Random, names: list[str], bad: Failures
) -> None:
    """Random messages on one WebSocket; every reply is an envelope; the connection is
    closed only for a protocol reason (1009 too big), never 1011 (a server fault)."""
    async with session.ws_connect(ws_url(url), max_msg_size=0) as ws:
        for _ in range(WS_MESSAGES):
            choice = rng.randrange(5)
            try:
                if choice == 0:
                    await ws.send_bytes(bytes(rng.randrange(256) for _ in range(20)))
                elif choice == 1:
                    await ws.send_str(fuzz_string(rng).encode("utf-8", "replace").decode())
                else:
                    message = fuzz_params(rng, names)
                    message["identifier"] = fuzz_json(rng) if rng.random() < 0.3 else "x"
                    message["queue"] = message.pop("name", rng.choice(names))
                    if rng.random() < 0.5:
                        message["op"] = rng.choice(["put", "ack", "release", "touch", "take", 7])
                    await ws.send_str(json_text(message))
                reply = await ws.receive(timeout=0.2)
            except TimeoutError:
                continue  # a want that waits for an item
            except ConnectionError:
                reply = await ws.receive(timeout=5)  # the server closed: how?
            if reply.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                if ws.close_code not in (1000, 1009):
                    bad.add(f"websocket closed with {ws.close_code} {reply!r}")
                return
            try:
                data = json.loads(reply.data)
                assert set(data) == {"success", "message", "payload"}, data
            except (AssertionError, TypeError, ValueError) as exc:
                bad.add(f"websocket reply {reply!r}: {exc}")


async def fuzz_ws_frames(host: str, port: int, rng: random.Random, bad: Failures) -> None:
    """Malformed WebSocket frames after a real handshake: the server closes the
    connection (1002 protocol error) and goes on serving."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /take/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if b" 101 " not in head.split(b"\r\n")[0]:
            bad.add(f"websocket handshake refused: {head[:100]!r}")
            return
        frame = rng.choice(
            [
                b"\x81\x05hello",  # unmasked client frame
                b"\x83\x80\x00\x00\x00\x00",  # reserved opcode
                b"\xf1\x80\x00\x00\x00\x00",  # reserved bits
                b"\x81\xff" + b"\x7f" * 8 + b"\x00\x00\x00\x00",  # absurd length
                b"\x89\xfe\x01\x00\x00\x00\x00\x00" + b"x" * 256,  # control frame too long
                b"\x01\x80\x00\x00\x00\x00\x01\x80\x00\x00\x00\x00",  # new message inside one
                b"\x81\x82\x00\x00\x00\x00\xff\xfe",  # text frame, invalid UTF-8
                bytes(rng.randrange(256) for _ in range(32)),
            ]
        )
        writer.write(frame)
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(4096), 3)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_fuzz(server: Server) -> None:
    """Thousands of random and malformed requests: no 5xx, envelopes only, still serving,
    no queued item lost."""
    rng = random.Random(SEED)
    with Api(server.url) as api:
        sentinels = {api.new_queue(): [f"sentinel-{i}-{n}" for n in range(20)] for i in range(3)}
        for name, values in sentinels.items():
            for n, value in enumerate(values):
                api.put(name, value, key="k" if n % 2 else None)
        fuzz_queues = [api.new_queue() for _ in range(5)]
    names = [*fuzz_queues, "not-a-queue", "", str(uuid.uuid4()), "%ff", "\ud800"]
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    bad = Failures()
    # A connection per request: reusing one that the server's short idle timeout is
    # closing at that moment would be the client's race, not the server's fault.
    connector = aiohttp.TCPConnector(limit=20, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(20)

        async def bounded(job: Any) -> None:
            async with gate:
                await job

        jobs = [fuzz_http(session, server.url, rng, names, bad) for _ in range(HTTP_REQUESTS)]
        jobs += [fuzz_raw(host, int(port), rng, bad) for _ in range(RAW_REQUESTS)]
        jobs += [
            fuzz_websocket(session, server.url, rng, names, bad) for _ in range(WS_CONNECTIONS)
        ]
        jobs += [fuzz_ws_frames(host, int(port), rng, bad) for _ in range(50)]
        rng.shuffle(jobs)
        await asyncio.wait_for(asyncio.gather(*(bounded(job) for job in jobs)), BUDGET)
    assert not bad.found, f"seed {SEED}:\n" + "\n".join(bad.found)
    assert server.proc.poll() is None, "the server died"
    with Api(server.url) as api:
        assert api.call("GET", "/health").ok()["status"] == "ok"
        for name, values in sentinels.items():
            assert api.drain(name) == values, f"seed {SEED}: items of {name} changed"
        probe = api.new_queue()
        api.put(probe, "still serving")
        assert api.take_item(probe)["value"] == "still serving"
    assert "Traceback" not in server.output(), f"seed {SEED}:\n{server.output()[-3000:]}"
