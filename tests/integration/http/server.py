"""``barbershop serve`` as a real process on a free loopback port, for the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import httpx

STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def barbershop(*args: str) -> list[str]:
    """The installed ``barbershop`` command, or the same CLI through this interpreter."""
    installed = Path(sys.executable).with_name("barbershop")
    if installed.exists():
        return [str(installed), *args]
    return [sys.executable, "-m", "barbershop_entrypoints.cli", *args]


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any ``BARBERSHOP_*`` of its own, plus the data dir."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BARBERSHOP_")}
    return env | {"BARBERSHOP_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"} | extra


@attrs.define
class Server:
    base_url: str
    process: subprocess.Popen[str]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8")


def _wait_until_live(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"barbershop serve exited with {server.process.returncode}:\n{server.stderr}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/health/live", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"barbershop serve did not answer in {STARTUP_TIMEOUT_SECONDS}s:\n{server.stderr}")


@contextlib.contextmanager
def running_server(data_dir: Path, logs_dir: Path, env: Mapping[str, str], *serve_args: str) -> Iterator[Server]:
    """Start ``barbershop serve [serve_args]``; stop it with SIGINT (a graceful shutdown) when done."""
    port = free_port()
    stdout_path, stderr_path = logs_dir / "serve.stdout", logs_dir / "serve.stderr"
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 -- our own CLI with fixed arguments
            barbershop("serve", "--host", "127.0.0.1", "--port", str(port), *serve_args),
            env=dict(env),
            cwd=data_dir.parent,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        server = Server(f"http://127.0.0.1:{port}", process, stdout_path, stderr_path)
        try:
            _wait_until_live(server)
            yield server
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def create_manager(env: Mapping[str, str], login: str, password: str) -> subprocess.CompletedProcess[str]:
    """``barbershop manager create --login L`` with the password piped on stdin."""
    return subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
        barbershop("manager", "create", "--login", login),
        input=password + "\n",
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
