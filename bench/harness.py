"""What ``uc04_bench.py`` and ``worker_bench.py`` share: a throw-away database, the CLI,
subprocesses on free loopback ports, the machine's facts, percentiles and the table.

Not a test and not part of the product: nothing imports it but the scripts beside it.
Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

SECRET_KEY = "bench-secret-key-" + "b" * 32
"""The CLI, the server and the bench itself must derive the same keys."""
LOOPBACK = re.compile(r"(@|//)(127\.0\.0\.1|localhost)(:|/|$)")


def require_loopback(*urls: str | None) -> None:
    for url in urls:
        if url and not LOOPBACK.search(url):
            raise SystemExit(f"loopback only: {url}")


# --- the database ----------------------------------------------------------------------------


def database_url_of(admin_url: str, name: str) -> str:
    scheme, _, rest = admin_url.partition("://")
    authority, _, path = rest.partition("/")
    query = path.partition("?")[2]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def sqlalchemy_url(libpq_url: str) -> str:
    return libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url`` (libpq URL); dropped at the end."""
    name = f"barbershop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url_of(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_version(database_url: str) -> str:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# --- the CLI and subprocesses ---------------------------------------------------------------


def barbershop(*args: str) -> list[str]:
    installed = Path(sys.executable).with_name("barbershop")
    return (
        [str(installed), *args] if installed.exists() else [sys.executable, "-m", "barbershop_entrypoints.cli", *args]
    )


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        barbershop(*args), env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"barbershop {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any ``BARBERSHOP_*``, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BARBERSHOP_")}
    return env | extra


def wait_until_live(process: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}; see {log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer in {seconds:.0f} s; see {log}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGINT (what Ctrl-C sends: uvicorn and the worker shut down cleanly), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(command: Sequence[str], env: dict[str, str], log: Path, live_url: str | None) -> Iterator[int]:
    """``command`` as a subprocess (output to ``log``); waits for ``live_url`` to answer 200.

    Yields the process id; the process is stopped at the end, whatever happens.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603 -- built here
        try:
            if live_url:
                wait_until_live(process, live_url, log)
            yield process.pid
        finally:
            stop(process)


def delete_stream(redis_url: str, stream: str) -> None:
    from redis import Redis  # noqa: PLC0415 -- only the runs that use Redis need it

    with contextlib.suppress(Exception), Redis.from_url(redis_url) as redis:
        redis.delete(stream)


# --- the machine ------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> dict[str, str]:
    memory = "?"
    with contextlib.suppress(OSError):
        total = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        memory = f"{int(total.group(1)) / 1024 / 1024:.1f} GiB" if total else "?"
    return {
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "uvloop": "installed" if importlib.util.find_spec("uvloop") else "not installed",
        "httptools": "installed" if importlib.util.find_spec("httptools") else "not installed",
        "platform": platform.platform(),
    }


def machine_lines(facts: dict[str, str], load_before: str, load_after: str) -> list[str]:
    return [
        f"machine: {facts['cpus']} CPUs, {facts['memory']}, Python {facts['python']}, "
        f"PostgreSQL {facts.get('postgresql', '?')}, uvloop {facts['uvloop']}, httptools {facts['httptools']}",
        f"load average (1, 5, 15 min) before: {load_before}; after: {load_after}",
    ]


# --- figures ----------------------------------------------------------------------------------


def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (0 when there are fewer than two samples)."""
    if len(seconds) < 2:
        return (seconds[0] * 1000, seconds[0] * 1000) if seconds else (0.0, 0.0)
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.0%}" if denominator else "n/a"


def table(rows: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(name) for name, _ in rows)
    return [
        f"| {'measure'.ljust(width)} | value |",
        f"|{'-' * (width + 2)}|-------|",
        *(f"| {name.ljust(width)} | {value} |" for name, value in rows),
    ]


class Spy:
    """``py-spy record --nonblocking`` of the server, one per output file, started on demand.

    ``gil_only`` keeps the samples of the thread holding the GIL: the Python work, without
    the hashes (argon2-cffi frees the GIL) and without a loop waiting in C (uvloop's epoll
    frees it too, but looks busy to py-spy otherwise)."""

    def __init__(self, files: list[Path], pid: int, seconds: float, *, gil_only: bool = False, rate: int = 100) -> None:
        self._files, self._pid, self._seconds = files, pid, max(int(seconds), 1)
        self._gil_only, self._rate = gil_only, rate
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        for output in self._files:
            fmt = "raw" if output.suffix == ".txt" else "flamegraph"
            command = [str(spy), "record", "--nonblocking", "--format", fmt, "-o", str(output)]
            command += ["--duration", str(self._seconds), "--pid", str(self._pid), "--rate", str(self._rate)]
            command += ["--gil"] if self._gil_only else []
            self._processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))  # noqa: S603 -- built here

    def wait(self) -> None:
        for process in self._processes:
            _, stderr = process.communicate(timeout=self._seconds + 60)
            if process.returncode != 0:
                print(f"py-spy failed: {stderr.decode(errors='replace')[-500:]}", file=sys.stderr)


# --- where the CPU went -----------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int, task: int | None = None) -> float:
    """User + system seconds of one process, all its threads (or of one thread, ``task``;
    0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _named_cpu(name: str) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    total += _process_cpu(int(entry.name))
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, all) seconds of every CPU since boot, from /proc/stat."""
    values = [int(value) / _TICK for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the server (its main thread, where the event loop runs, and
    its other threads: the hashes, aiosqlite), PostgreSQL and Redis (every process of theirs on
    this box), this bench, and the machine (busy and all)."""
    busy, every = _machine_cpu()
    own = os.times()
    return {
        "server loop": _process_cpu(server_pid, server_pid),
        "server threads": _process_cpu(server_pid) - _process_cpu(server_pid, server_pid),
        "postgres": _named_cpu("postgres"),
        "redis": _named_cpu("redis-server"),
        "bench": own.user + own.system,
        "machine busy": busy,
        "machine all": every,
    }


def cpu_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Milliseconds of CPU per item, per part, between two snapshots; ``idle`` is the
    machine's CPU that nobody used."""
    spent = {name: after[name] - before[name] for name in before}
    spent["other"] = spent["machine busy"] - sum(
        spent[name] for name in ("server loop", "server threads", "postgres", "redis", "bench")
    )
    spent["idle"] = spent["machine all"] - spent["machine busy"]
    del spent["machine busy"], spent["machine all"]
    return {name: seconds * 1000 / items if items else 0.0 for name, seconds in spent.items()}


def cpu_line(per_item: dict[str, float], what: str) -> str:
    return ", ".join(f"{name} {ms:.2f}" for name, ms in per_item.items()) + f" (ms of CPU per {what})"
