"""Run every listener of a configuration in one process, sharing one queue service."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import ssl

from aiohttp import web

from disqueue import __version__
from disqueue.auth import BasicAuth, PasswordFile
from disqueue.config import Config, ListenerConfig, TLSConfig
from disqueue.core import QueueNames, QueueService
from disqueue.errors import ConfigError
from disqueue.server.access import ACCESS_LOG, AccessLogger
from disqueue.server.app import build_app
from disqueue.server.metrics import Metrics
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


def _auth_for(listener: ListenerConfig, files: dict[str, PasswordFile]) -> BasicAuth | None:
    entry = listener.authentication
    if entry is None:
        return None
    if entry.name not in files:
        try:
            files[entry.name] = PasswordFile(entry.file)
        except OSError as exc:
            raise ConfigError(f"password file {entry.file}: {exc.strerror}") from exc
    return BasicAuth(entry.name, files[entry.name])


async def _start_listeners(config: Config, service: QueueService) -> list[web.AppRunner]:
    runners: list[web.AppRunner] = []
    passwords: dict[str, PasswordFile] = {}
    metrics = Metrics()  # one for the process: any listener's /metrics shows all of it
    access = (
        {"access_log": ACCESS_LOG, "access_log_class": AccessLogger}
        if config.log.access
        else {"access_log": None}
    )
    try:
        for listener in config.servers:
            auth = _auth_for(listener, passwords)
            app = build_app(service, auth, config.limits.max_body_bytes, metrics)
            runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, **access)
            await runner.setup()
            runners.append(runner)
            context = tls_context(listener.tls) if listener.tls else None
            site = web.TCPSite(runner, listener.hostname, listener.port, ssl_context=context)
            try:
                await site.start()
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
        await asyncio.gather(*(r.cleanup() for r in runners), return_exceptions=True)
        raise
    return runners


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
        service = QueueService(storage, QueueNames(config.queue_names), config.limits)
        runners = await _start_listeners(config, service)
        log.info("disqueue %s ready (storage %s, %s)", __version__, storage.kind,
                 config.source or "no configuration file")  # fmt: skip
        await stop.wait()
        log.info("shutting down")
        await asyncio.gather(*(r.cleanup() for r in runners))
    finally:
        await storage.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
    log.info("stopped")
