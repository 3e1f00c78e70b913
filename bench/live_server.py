"""What the benchmarks that load the backend over HTTP share: an app as its own uvicorn
process on a free loopback port (started with the given settings, yielded once `/health`
answers, then stopped), the CPU time that process spends, the machine's load, and the
percentile they report."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
# Settings a benchmark never takes from the caller's environment: it measures the embedded
# profile unless it says otherwise.
UNSET = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")
BACKEND = "backend.main:app"


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the server (and its uvicorn workers) has used so far; None off Linux."""
        return process_cpu_seconds(self.pid)


@contextmanager
def serve(
    settings: Mapping[str, str],
    *,
    unset: Sequence[str] = UNSET,
    app: str = BACKEND,
    workers: int = 1,
    log_path: Path | None = None,
    start_timeout: float = 120,
) -> Iterator[LiveServer]:
    """`app` served by uvicorn with `settings` as environment variables (and without the
    caller's `unset` ones) while the block runs. Apps other than the backend are looked up
    in `bench/`. With `log_path`, the server's output goes there (the access log included)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {name: value for name, value in os.environ.items() if name not in unset}
    env.update(settings)
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--host", "127.0.0.1"]
    if app != BACKEND:
        command += ["--app-dir", str(BENCH)]
    if workers > 1:
        command += ["--workers", str(workers)]
    if log_path is None:
        command += ["--log-level", "warning", "--no-access-log"]
    output = log_path.open("wb") if log_path else None
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
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
                if log_path:
                    sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.2)
        yield LiveServer(url=url, port=port, pid=server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if output:
            output.close()


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


def load_average() -> str:
    """The 1-minute load average over the core count: other work on the machine, which
    moves every latency and throughput printed next to it."""
    return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}"


def describe_machine() -> str:
    """Cores, load average, and the HTTP stack uvicorn picks (the fast one when installed)."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{os.cpu_count()} cores, load average {load}; uvicorn http={http} loop={loop}"


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
