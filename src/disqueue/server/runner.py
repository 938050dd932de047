"""Run every listener of a configuration in one process, sharing one queue service."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl
import time

from aiohttp import web

from disqueue import __version__
from disqueue.auth import BasicAuth, LoginThrottle, PasswordFile, Permissions
from disqueue.config import Config, ListenerConfig, TLSConfig
from disqueue.core import QueueService
from disqueue.core.history import FINE, History
from disqueue.errors import ConfigError, DisqueueError
from disqueue.server.access import ACCESS_LOG, AccessLogger
from disqueue.server.app import build_app
from disqueue.server.fast import Routes
from disqueue.server.limits import raise_open_files
from disqueue.server.metrics import Metrics
from disqueue.server.protocol import ConnectionCount, protocol_factory
from disqueue.server.sqs import Endpoint
from disqueue.storage import open_storage

log = logging.getLogger("disqueue.server")

#: How long shutdown waits for requests in flight before closing their connections.
SHUTDOWN_TIMEOUT = 10.0


def tls_context(tls: TLSConfig) -> ssl.SSLContext:
    """A server TLS context: TLS 1.2 at least, and client certificates if a CA is named."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.certificate, tls.privatekey)
        if tls.client_ca is not None:
            context.load_verify_locations(cafile=tls.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate {tls.certificate}: {exc}") from exc
    return context


def _auth_for(
    config: Config,
    listener: ListenerConfig,
    files: dict[str, PasswordFile],
    throttle: LoginThrottle,
) -> BasicAuth | None:
    entry = listener.authentication
    if entry is None:
        return None
    if entry.name not in files:
        try:
            files[entry.name] = PasswordFile(entry.file)
        except OSError as exc:
            raise ConfigError(f"password file {entry.file}: {exc.strerror}") from exc
    permissions = None
    if entry.permissions is not None:
        permissions = Permissions(entry.permissions, config.names)
    return BasicAuth(entry.name, files[entry.name], permissions, throttle)


class Listener:
    """One listening socket and the aiohttp application behind it."""

    def __init__(self, runner: web.AppRunner, fast: Routes | None) -> None:
        self.runner = runner
        self.fast = fast
        self.socket: asyncio.Server | None = None

    async def close(self) -> None:
        """Stop accepting, then finish (or close) the connections, as aiohttp's sites do."""
        if self.socket is not None:
            self.socket.close()
        if self.fast is not None:
            await asyncio.gather(self.fast.shut(SHUTDOWN_TIMEOUT), self.runner.cleanup())
        else:
            await self.runner.cleanup()


#: The history's sampler is busy at most 1 / (1 + this) of the time: a snapshot that
#: takes long (PostgreSQL counts each queue's items) spaces the samples out.
SAMPLER_REST = 19


async def keep_history(service: QueueService, history: History) -> None:
    """The one background task of the history: a snapshot of the counters storage keeps
    anyway, just after each `FINE` step of the wall clock (which the history counts in),
    or later when snapshots are slow (`SAMPLER_REST`). Nothing on the put and take path;
    a storage that cannot answer leaves a gap."""
    loop, rest = asyncio.get_running_loop(), 0.0
    while True:
        await asyncio.sleep(rest + FINE.step - (time.time() + rest) % FINE.step + 0.01)
        started = loop.time()
        try:
            history.record(await service.stats())
        except DisqueueError as exc:
            log.debug("history: no sample: %s", exc.message)
        except Exception:  # a fault of ours: said, and the next sample tried all the same
            log.exception("history: sample failed")
        rest = (loop.time() - started) * SAMPLER_REST


async def _start_listeners(
    config: Config, service: QueueService, metrics: Metrics
) -> list[Listener]:
    listeners: list[Listener] = []
    passwords: dict[str, PasswordFile] = {}
    access = (
        {"access_log": ACCESS_LOG, "access_log_class": AccessLogger}
        if config.log.access
        else {"access_log": None}
    )
    limits = config.limits
    throttle = LoginThrottle(limits.max_failed_logins, limits.failed_login_window)
    count = ConnectionCount(limits.max_connections)
    sqs = Endpoint(config.sqs) if config.sqs is not None else None
    loop = asyncio.get_running_loop()
    try:
        for listener in config.servers:
            auth = _auth_for(config, listener, passwords, throttle)
            app = build_app(service, auth, limits, metrics, sqs)
            runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, **access)
            await runner.setup()
            # TLS listeners, and those configured so, stay on aiohttp (decision 0015).
            fast = None
            if listener.tls is None and listener.http == "fast":
                fast = Routes(app, access_log=config.log.access)
            started = Listener(runner, fast)
            listeners.append(started)
            context = tls_context(listener.tls) if listener.tls else None
            assert runner.server is not None
            try:
                started.socket = await loop.create_server(
                    protocol_factory(runner.server, count, limits, access, fast),
                    listener.hostname,
                    listener.port,
                    ssl=context,
                    backlog=1024,
                )
            except OSError as exc:
                raise ConfigError(f"cannot listen on {listener.url}: {exc.strerror}") from exc
            log.info(
                "listening on %s%s",
                listener.url,
                f" (authentication {listener.authentication.name!r})"
                if listener.authentication
                else "",
            )
    except BaseException:
        await asyncio.gather(*(item.close() for item in listeners), return_exceptions=True)
        raise
    return listeners


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set, or until SIGTERM or SIGINT; then shut down cleanly:
    stop accepting, close WebSockets with 1001, finish requests in flight."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    storage = open_storage(config.storage)
    await storage.open()
    # What start-up loaded lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it again and again as the queues grow.
    gc.collect()
    gc.freeze()
    try:
        service = QueueService(storage, config.names, config.limits)
        open_files = raise_open_files()
        metrics = Metrics()  # one for the process: any listener's /metrics shows all of it
        listeners = await _start_listeners(config, service, metrics)
        sampler = asyncio.create_task(keep_history(service, metrics.history))
        log.info("disqueue %s ready (storage %s, %s)", __version__, storage.kind,
                 config.source or "no configuration file")  # fmt: skip
        log.info("%s", open_files)  # once ready: a failed start stays a one-line error
        await stop.wait()
        log.info("shutting down")
        sampler.cancel()
        await asyncio.gather(*(item.close() for item in listeners))
    finally:
        await storage.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
    log.info("stopped")
