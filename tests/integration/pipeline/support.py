"""The pieces of the pipeline tests: Redis servers, the product's own processes, fake
providers that script their answers and count what they accepted, and polling.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, NoReturn, TypeVar

import attrs
import pytest
import redis

from tests.integration.channels.fake_provider import FakeProvider, RecordedRequest, Reply

REDIS_URL_ENV = "BARBERSHOP_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

T = TypeVar("T")


def unreachable(reason: str) -> NoReturn:
    """Skip with the reason; under ``CI=true`` fail instead: there the servers must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — required under CI=true", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A ``redis-server`` of the test's own on a free port, without persistence.

    Fault tests stop and start this one; the shared server is never touched that way.
    A restart comes back empty, like a Redis without persistence after a crash.
    """

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unreachable("redis-server is not on PATH; the Redis fault tests start their own")
        self._binary = binary
        self._directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert self._process is None, "already running"
        self._process = subprocess.Popen(  # noqa: S603 -- a fixed argv: the redis-server found on PATH
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: redis_answers(self.url), timeout=10, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class Process:
    """One ``barbershop …`` command in a process of its own, its output kept in a file."""

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 -- our own CLI, run by the test's interpreter
            [sys.executable, "-m", "barbershop_entrypoints.cli", *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, text: str, timeout: float = 15) -> None:
        wait_for(lambda: text in self.output(), timeout=timeout, what=f"{text!r} in the output of {self.name}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, no outcome recorded."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not stop in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def run_to_end(self, timeout: float = 60) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        finally:
            self._log.close()
        return code


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def eventually(
    probe: Callable[[], T],
    accept: Callable[[T], bool],
    *,
    within: float,
    what: str,
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until ``accept`` holds for its answer; returns that answer."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


# -- fake providers ------------------------------------------------------------------------


@attrs.frozen
class Step:
    """One scripted answer. ``reply`` None: the provider's success. ``accepts``: the provider
    took the message (it reaches the client); a success always does. ``delay``: seconds
    the provider takes to answer."""

    reply: Reply | None = None
    accepts: bool = False
    delay: float = 0.0


class ScriptedProvider(FakeProvider):
    """Answers from a script, then with :meth:`success`; counts the messages it accepted."""

    def __init__(self, script: Sequence[Step] = ()) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.script = list(script)
        self.accepted: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            step = self.script.pop(0) if self.script else Step()
            if step.reply is None or step.accepts:
                self.accepted.append(request)
                self.accepted_as(request, len(self.accepted))
            reply = step.reply or self.success(request, len(self.accepted))
        time.sleep(step.delay)
        return reply

    def accepted_as(self, request: RecordedRequest, number: int) -> None:
        """Called for each message the provider takes, with its number."""

    def success(self, request: RecordedRequest, number: int) -> Reply:
        raise NotImplementedError


class FakeSmsRu(ScriptedProvider):
    """SMS.ru's ``POST /sms/send`` (form, ``json=1``). SMS.ru has no idempotency key."""

    def success(self, request: RecordedRequest, number: int) -> Reply:
        recipient = request.form()["to"]
        entry = {"status": "OK", "status_code": 100, "sms_id": sms_id(number)}
        return Reply.json({"status": "OK", "status_code": 100, "balance": 100.0, "sms": {recipient: entry}})

    @staticmethod
    def server_error() -> Step:
        return Step(Reply.text("Bad Gateway", 502))

    @staticmethod
    def error_code(code: int) -> Step:
        entry = {"status": "ERROR", "status_code": code, "status_text": "error"}
        return Step(Reply.json({"status": "OK", "status_code": 100, "sms": {"0": entry}}))


def sms_id(number: int) -> str:
    return f"202611-{number:06d}"


class FakeVk(ScriptedProvider):
    """VK's ``messages.send``: a call with a ``random_id`` VK has already taken sends nothing
    again and answers the first message's id, as VK does."""

    def __init__(self, script: Sequence[Step] = ()) -> None:
        super().__init__(script)
        self.message_ids: dict[str, int] = {}

    def record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            seen = self.message_ids.get(request.form()["random_id"])
            if seen is None:
                return super().record(request)
            self.requests.append(request)
            return Reply.json({"response": seen})

    def accepted_as(self, request: RecordedRequest, number: int) -> None:
        self.message_ids[request.form()["random_id"]] = 1000 + number

    def success(self, request: RecordedRequest, number: int) -> Reply:
        return Reply.json({"response": 1000 + number})


def accept_and_hang() -> Step:
    """The provider takes the message (it reaches the client), and its answer never comes."""
    return Step(Reply.hanging(), accepts=True)


def hang() -> Step:
    """The provider never answers, and never sends."""
    return Step(Reply.hanging())
