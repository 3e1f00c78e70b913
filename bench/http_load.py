"""A closed-loop HTTP load generator that takes as little of the shared cores as it can.

`clients` keep-alive HTTP/1.1 connections on one asyncio loop, each sending its next
request as soon as the previous answer is read. The client speaks just enough HTTP for
this (`Connection`: pre-encoded requests, `Content-Length` responses), so on a 2-core
machine it leaves the server most of a core; `httpx` took about as much CPU per request as
the server it measured. Each request is timed from just before its bytes are written to
just after its whole body is read. The garbage collector is off while it measures: a full
collection of a large heap in this process (a bench that also holds models) stalls every
client at once and would count as server latency.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from live_server import LiveServer, percentile


class Connection:
    """One keep-alive HTTP/1.1 connection, with just enough protocol for a benchmark.

    Requests are sent pre-encoded; a response must carry `Content-Length` (FastAPI's JSON
    responses do). No redirects, no chunked bodies, no reconnects: anything else is an error.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"HTTP {status} without Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def encode(
    port: int,
    method: str,
    path: str,
    *,
    body: object = None,
    raw: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """One request, ready to write: a JSON `body`, or `raw` bytes sent as they are."""
    payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if body is not None or raw is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@dataclass
class Load:
    """What a measured run showed: latencies (ms), wall time, and CPU per request."""

    latencies: list[float]
    seconds: float
    server_cpu_ms: float | None  # per request; None off Linux
    client_cpu_ms: float
    bodies: list[bytes] = field(repr=False)

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    def summary(self) -> str:
        cpu = f"server CPU {self.server_cpu_ms:.2f} ms/req, " if self.server_cpu_ms else ""
        return (
            f"p50 {self.p(50):6.1f} ms  p99 {self.p(99):6.1f} ms  "
            f"mean {statistics.fmean(self.latencies):6.1f} ms  {self.per_second:6.0f} req/s  "
            f"({len(self.latencies)} requests; {cpu}load generator {self.client_cpu_ms:.2f} ms)"
        )


async def closed_loop(
    connections: Sequence[Connection], requests: Sequence[bytes], expect: int
) -> tuple[list[float], list[bytes]]:
    """Send every request, each client taking the next one when its last answer is in."""
    latencies: list[float] = []
    bodies: list[bytes] = []
    pending = iter(requests)

    async def client(connection: Connection) -> None:
        for request in pending:
            started = time.perf_counter()
            status, body = await connection.send(request)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != expect:
                raise RuntimeError(f"expected {expect}, got {status}: {body[:300]!r}")
            bodies.append(body)

    await asyncio.gather(*(client(connection) for connection in connections))
    return latencies, bodies


async def measure(
    server: LiveServer,
    make_request: Callable[[int], bytes],
    *,
    count: int,
    clients: int,
    expect: int = 200,
    warmup: int | None = None,
) -> Load:
    """`count` requests (`make_request(i)`) from `clients` connections, after a warm-up
    that is answered but not measured."""
    warmup = max(clients * 5, count // 10) if warmup is None else warmup
    requests = [make_request(i) for i in range(warmup + count)]
    connections = [await Connection.open(server.port) for _ in range(clients)]
    try:
        await closed_loop(connections, requests[:warmup], expect)
        gc.collect()
        gc.disable()
        server_cpu = server.cpu_seconds()
        client_cpu = time.process_time()
        started = time.perf_counter()
        latencies, bodies = await closed_loop(connections, requests[warmup:], expect)
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_cpu_end = server.cpu_seconds()
    finally:
        gc.enable()
        for connection in connections:
            await connection.close()
    server_ms = None
    if server_cpu is not None and server_cpu_end is not None:
        server_ms = (server_cpu_end - server_cpu) / count * 1000
    return Load(latencies, seconds, server_ms, client_cpu / count * 1000, bodies)
