"""Servers and workers that tests start: real processes, or uvicorn on a thread of the test.

Every process is started in its own session and ended by its own process
group in a `finally`, so a failing test leaves nothing running. A server is
used once it answers (a process: `/health`; a thread: uvicorn's `started`),
polled until a bounded deadline, never after a fixed sleep: a busy machine
only makes the wait longer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.contract.helpers import wait_for
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120
# Settings a subprocess must not inherit from the developer's shell (nor any SAAS_*).
_SCRUBBED = {
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_QUEUE",
    "VECTOR_STORE",
    "PGVECTOR_DATABASE_URL",
}


def process_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of an API or worker process: offline, test mode, `settings` on top."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED and not key.startswith("SAAS_")
    }
    env.update(
        ENVIRONMENT="test",
        DATA_DIR=str(data_dir),
        LLM_PROVIDER="local",
        EMBEDDING_PROVIDER="local",
        LOAD_SAMPLE_DATA="false",
        JWT_SECRET="scale-test-secret-" + "x" * 32,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


class Process:
    """A child process in its own session, its output in a log file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the machine died, nothing gets to clean up."""
        self._signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL for anything left in the group."""
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.kill()

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)


class Server(Process):
    """`uvicorn <app>` on a free loopback port; `url` is its base URL."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *, app: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
            + ["--log-level", "warning"],
            env,
            log_path,
        )

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        wait_for(
            lambda: self.popen.poll() is not None or answers(f"{self.url}/health"),
            timeout=timeout,
            what=f"{self.url}/health (log: {self.log_path})",
        )
        assert self.popen.poll() is None, f"the server exited at start:\n{self.output()[-3000:]}"


@contextmanager
def api_server(
    env: Mapping[str, str], log_path: Path, *, app: str = "backend.main:app"
) -> Iterator[Server]:
    """The backend (or another ASGI `app`) as its own process, yielded once it is healthy."""
    server = Server(env, log_path, app=app)
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.stop()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """The ASGI `app` served by uvicorn on a thread and a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # A server that fails at start ends its thread: stop waiting then.
        wait_for(
            lambda: server.started or not thread.is_alive(),
            timeout=START_TIMEOUT,
            what=f"uvicorn on :{port}",
        )
        assert server.started, f"uvicorn on :{port} exited at start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def answers(url: str) -> bool:
    """True once `url` answers 200 (connection refused or a slow start: False)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
