"""What every benchmark shares: databases, the real server, a lean HTTP client, percentiles.

The client speaks HTTP/1.1 over asyncio streams with keep-alive. On a 2-core machine the
driver competes with the server for CPU; a full-featured client (httpx) spends several times
more CPU per request than this one, and that time would be charged to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("ZABOTA_BENCH_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BENCH_DB_PREFIX = "zabota_bench"
T = TypeVar("T")
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "zabota-bench"
# ../shared/data beside the checkout: benchmarks read it, the product and the tests never do
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- databases ----------------------------------------------------------------------------


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def pg_url(name: str) -> str:
    if not name.startswith(BENCH_DB_PREFIX):
        raise ValueError(f"benchmark databases are named {BENCH_DB_PREFIX}*, not {name}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pg_database_name(url: str) -> str:
    return sa.engine.make_url(url).database or ""


def create_pg_database(name: str, *, drop_existing: bool = True) -> str:
    """A PostgreSQL database of the benchmarks' own (never `test` or the test suite's)."""
    url = pg_url(name)
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if exists and drop_existing:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            if not exists or drop_existing:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url


def drop_pg_database(name: str) -> None:
    pg_url(name)  # refuses anything but a benchmark database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def database_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if is_sqlite_url(url):
                return "SQLite " + str(conn.execute(sa.text("SELECT sqlite_version()")).scalar())
            return str(conn.execute(sa.text("SHOW server_version")).scalar()).join(
                ("PostgreSQL ", ""))
    finally:
        engine.dispose()


def zabota_command(*args: str) -> list[str]:
    """The real `zabota` CLI of this interpreter's environment."""
    return [sys.executable, "-m", "zabota.cli", *args]


def server_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZABOTA_")}
    env.update({"ZABOTA_DATABASE_URL": url, "ZABOTA_DATA_DIR": str(data_dir),
                "ZABOTA_SECRET_KEY": "benchmark-secret", **extra})
    return env


def migrate(url: str, data_dir: Path) -> None:
    """`zabota migrate`, exactly as an operator runs it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(zabota_command("migrate"), env=server_env(url, data_dir), check=True,
                   capture_output=True, timeout=300)


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """`zabota serve --no-with-worker` (uvicorn, one process) on a free local port."""

    url: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start the process; it touches the database only when requests come."""
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            zabota_command("serve", "--no-with-worker", "--host", "127.0.0.1",
                           "--port", str(self.port)),
            env=server_env(self.url, self.data_dir, **self.env), stdout=log, stderr=log)
        log.close()
        return self

    def wait_ready(self) -> Server:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.data_dir / 'server.log'}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return self
            time.sleep(0.05)
        raise RuntimeError("the server did not start within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        if self.process is None:
            self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


# --- a lean HTTP/1.1 client ---------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # client round trip

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def server_ms(self) -> float:
        """The app's own time from the `Server-Timing: app;dur=<ms>` header."""
        match = re.search(r"app;dur=([0-9.]+)", self.headers.get("server-timing", ""))
        if match is None:
            raise ValueError("the response has no Server-Timing header")
        return float(match.group(1))


class Connection:
    """One keep-alive connection; requests on it run one after the other."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self._reader, self._writer

    async def request(self, method: str, path: str, body: object = None) -> Response:
        reader, writer = await self._open()
        payload = b"" if body is None else orjson.dumps(body)
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        started = time.perf_counter()
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _sep, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _read_chunked(reader)
        else:
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        elapsed = time.perf_counter() - started
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, content, elapsed)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def check(response: Response, expected: int = 200) -> Response:
    if response.status != expected:
        raise RuntimeError(f"HTTP {response.status}: {response.body[:500]!r}")
    return response


# --- figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Latencies:
    name: str
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    cpu_ms: float | None = None  # the server process's CPU per request, when measured

    def add(self, response: Response) -> None:
        self.server_ms.append(response.server_ms)
        self.client_ms.append(response.seconds * 1000)

    def row(self) -> str:
        s, c = self.server_ms, self.client_ms
        cpu = "" if self.cpu_ms is None else f"  | server CPU {self.cpu_ms:6.2f} ms/req"
        return (f"{self.name:<44} n={len(s):>5}  server p50 {percentile(s, .5):7.2f} ms"
                f"  p95 {percentile(s, .95):7.2f} ms  | client p50 {percentile(c, .5):7.2f} ms"
                f"  p95 {percentile(c, .95):7.2f} ms{cpu}")

    def p95_server(self) -> float:
        return percentile(self.server_ms, .95)


def load_average() -> str:
    with contextlib.suppress(OSError):
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "load average unknown"


def machine_summary() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    return (f"{os.cpu_count()} cores ({cpu}){memory}; Python {platform.python_version()}; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {load_average()} (the machine is shared)")


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The exact command that produced the figures, to print above them."""
    args = list(sys.argv[1:] if argv is None else argv)
    return "$ " + " ".join(["python", "-m", module, *args])


def run_async(function: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
    """`asyncio.run(function(...))` on a thread of its own.

    The caller may already run an event loop (a test session with browser tests does), and
    asyncio.run refuses to start a second one on the same thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(function(*args, **kwargs))).result()
