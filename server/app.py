"""Running the coordinator: TLS, health, signals, graceful shutdown.

``labmatch serve --consortium FILE`` reads the consortium definition and
the coordinator's TLS files from ``coordinator/`` beside FILE, opens the
store, and serves on grpc.aio with client certificates required. Once the
port is bound it prints ``listening on HOST:PORT`` on stderr. SIGTERM or
SIGINT flips health to NOT_SERVING, drains in-flight calls for up to
DRAIN_SECONDS, closes the store and returns.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from labmatch._proto import coordinator_pb2_grpc as pb_grpc
from labmatch.psi.consortium import Consortium

from .authz import AuthorizationInterceptor, Policy
from .records import Records
from .servicer import CoordinatorServicer
from .store import open_store

__all__ = ["ServerConfig", "serve", "run", "MAX_MESSAGE_BYTES"]

log = logging.getLogger("labmatch.server")

DEFAULT_LISTEN = "127.0.0.1:50051"
DRAIN_SECONDS = 10.0
# Chunks are about 1 MiB; nothing legitimate comes near this.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAME = "labmatch.v1.Coordinator"


@dataclass(frozen=True)
class ServerConfig:
    consortium: Consortium
    listen: str
    store_url: str
    tls_key: bytes
    tls_cert: bytes
    ca_cert: bytes

    @classmethod
    def from_files(cls, consortium_path: Path, listen: str | None = None,
                   store_url: str | None = None) -> ServerConfig:
        base = consortium_path.resolve().parent
        consortium = Consortium.from_toml(
            consortium_path.read_text(encoding="utf-8"),
            source=str(consortium_path))
        tls = base / "coordinator"

        def read(name: str) -> bytes:
            path = tls / name
            try:
                return path.read_bytes()
            except OSError as exc:
                raise FileNotFoundError(
                    f"{path}: cannot read the coordinator's TLS file "
                    f"({exc.strerror})") from None

        return cls(
            consortium=consortium,
            listen=listen or DEFAULT_LISTEN,
            store_url=store_url or f"sqlite:{tls / 'state.sqlite3'}",
            tls_key=read("tls.key"),
            tls_cert=read("tls.crt"),
            ca_cert=read("ca.crt"),
        )


async def _check_store(store) -> None:
    """Fail at start, with the reason, if the store cannot be used."""
    try:
        await store.meta.get("health/probe")
    except Exception as exc:
        await store.aclose()
        raise OSError(f"cannot use the store {store.url_for_humans}: "
                      f"{exc}") from None


def _credentials(config: ServerConfig) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(config.tls_key, config.tls_cert)],
        root_certificates=config.ca_cert,
        require_client_auth=True,
    )


def _host_port(listen: str, port: int) -> str:
    host = listen.rsplit(":", 1)[0]
    return f"{host}:{port}"


async def serve(config: ServerConfig, *, ready=None,
                stop: asyncio.Event | None = None, clock=None) -> None:
    """Serve until ``stop`` is set (or a signal arrives when run())."""
    store = open_store(config.store_url, config.consortium.consortium_id)
    records = Records(store)
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    policy = Policy(config.consortium, records, clock)
    await _check_store(store)
    server = grpc.aio.server(
        interceptors=[AuthorizationInterceptor(policy)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # A second coordinator on a busy port must fail, not share it.
            ("grpc.so_reuseport", 0),
        ])
    pb_grpc.add_CoordinatorServicer_to_server(
        CoordinatorServicer(config.consortium, records, clock=clock), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_secure_port(config.listen, _credentials(config))
    except RuntimeError:
        port = 0
    if port == 0:
        await store.aclose()
        raise OSError(f"cannot listen on {config.listen} (address in use, "
                      f"or not an address of this machine)")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(
            name, health_pb2.HealthCheckResponse.SERVING)
    address = _host_port(config.listen, port)
    log.info("server.started listen=%s store=%s", address,
             store.url_for_humans)
    if ready is not None:
        ready(address)
    stop = stop or asyncio.Event()
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(DRAIN_SECONDS)
        await store.aclose()
        log.info("server.stopped")


def run(config: ServerConfig) -> int:
    """Blocking entry point for the command line."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def ready(address: str) -> None:
            print(f"listening on {address}", file=sys.stderr, flush=True)

        await serve(config, ready=ready, stop=stop)

    asyncio.run(main())
    return 0
