"""Processes for the scale-out tests: Celery workers and a broker that can vanish.

Processes come from `tests.processes` (own session, ended by process group in a
`finally`); every queue is named for the test run and deleted afterwards.
"""

from __future__ import annotations

import socket
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from kombu import Connection

from tests.contract.helpers import wait_for
from tests.processes import Process
from tests.support import free_port


@contextmanager
def celery_worker(
    env: Mapping[str, str], log_path: Path, *, app: str = "backend.worker", ready: bool = True
) -> Iterator[Process]:
    """`celery -A <app> worker -c 1`: the prefork pool's parent and one child running one
    task at a time (prefetch 1), no chatter with other workers. Killed at the end: by then
    nothing is in flight, and a warm shutdown would cost seconds."""
    name = f"{env['CELERY_QUEUE']}-{uuid.uuid4().hex[:6]}@%h"
    worker = Process(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--pool", "prefork", "-c", "1"]
        + ["-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat"]
        + ["-l", "INFO"],
        env,
        log_path,
    )
    try:
        if ready:
            wait_for(
                lambda: " ready." in worker.output() or worker.popen.poll() is not None,
                timeout=30,
                what="the Celery worker to start",
            )
            assert worker.popen.poll() is None, worker.output()
        yield worker
    finally:
        worker.kill()


@contextmanager
def broker_queue(broker_url: str) -> Iterator[str]:
    """A queue name of its own for this test (Celery declares it); deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with Connection(broker_url, connect_timeout=5) as connection:
            channel = connection.default_channel
            with suppress(Exception):
                channel.queue_delete(name)
            with suppress(Exception):
                channel.exchange_delete(name)


class TcpProxy:
    """A TCP forwarder to `upstream` that can be taken down and brought back on one port:
    the broker, as the API sees it, goes away and returns."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
