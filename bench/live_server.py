"""What the benchmarks that load the backend over HTTP share: the backend as its own uvicorn
process on a free loopback port (started with the given settings, yielded once `/health`
answers, then stopped), and the percentile they report."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Settings a benchmark never takes from the caller's environment: it measures the embedded
# profile unless it says otherwise.
UNSET = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")


@contextmanager
def serve(
    settings: Mapping[str, str], *, unset: Sequence[str] = UNSET, start_timeout: float = 120
) -> Iterator[str]:
    """The backend's base URL while it runs with `settings` as environment variables (and
    without the caller's `unset` ones)."""
    with serve_process(settings, unset=unset, start_timeout=start_timeout) as (url, _):
        yield url


@contextmanager
def serve_process(
    settings: Mapping[str, str], *, unset: Sequence[str] = UNSET, start_timeout: float = 120
) -> Iterator[tuple[str, int]]:
    """Like `serve`, with the server's process id (to read its CPU time)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {name: value for name, value in os.environ.items() if name not in unset}
    env.update(settings)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
        + ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the backend did not start")
            time.sleep(0.2)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process and its live children (uvicorn's workers),
    from Linux `/proc`, or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    # Fields 14 and 15 of stat(5), utime and stime, counted from the state field (3).
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) or 0.0 for child in children)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
