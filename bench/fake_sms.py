"""A fake SMS.ru for ``worker_bench.py``: answers every ``POST /sms/send`` at once, in SMS.ru's
success format, and counts what it got per recipient.

A bare HTTP/1.1 server on asyncio (uvloop when installed), keep-alive, in a process of
its own, so that it is as cheap as a provider can be and does not share a CPU-bound
interpreter with the worker it serves::

    python bench/fake_sms.py --port 8025

``POST /sms/send`` (form ``api_id``, ``to``, ``msg``, ``json=1``) answers HTTP 200 with::

    {"status": "OK", "status_code": 100, "balance": 4122.56,
     "sms": {"<to>": {"status": "OK", "status_code": 100, "sms_id": "000000-<n>"}}}

(the shape ``barbershop_adapters.channels.sms`` reads; see its docstring). ``GET /_stats`` returns
``{"received": n, "first": t, "last": t, "counts": {"<to>": k}}`` (``t``: Unix time of the
first and last send), ``POST /_reset`` forgets everything, ``GET /health`` answers 200.
Not a test and not part of the product.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import Counter
from typing import Final, cast
from urllib.parse import parse_qs

_HEAD_END: Final = b"\r\n\r\n"


class Ledger:
    """What the provider got: sends per recipient, and when the first and the last came."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.received = 0
        self.first = 0.0
        self.last = 0.0

    def reset(self) -> None:
        self.counts.clear()
        self.received = 0
        self.first = self.last = 0.0

    def record(self, recipient: str) -> int:
        now = time.time()
        if not self.received:
            self.first = now
        self.last = now
        self.received += 1
        self.counts[recipient] += 1
        return self.received

    def stats(self) -> dict[str, object]:
        return {"received": self.received, "first": self.first, "last": self.last, "counts": dict(self.counts)}


def _sms_answer(recipient: str, number: int) -> dict[str, object]:
    entry = {"status": "OK", "status_code": 100, "sms_id": f"000000-{number}"}
    return {"status": "OK", "status_code": 100, "balance": 4122.56, "sms": {recipient: entry}}


def answer(ledger: Ledger, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    if method == "POST" and path == "/sms/send":
        form = parse_qs(body.decode(), keep_blank_values=True)
        recipient = form.get("to", [""])[-1]
        if not recipient or not form.get("api_id") or not form.get("msg"):
            return 200, json.dumps({"status": "ERROR", "status_code": 210}).encode()
        return 200, json.dumps(_sms_answer(recipient, ledger.record(recipient))).encode()
    if method == "GET" and path == "/_stats":
        return 200, json.dumps(ledger.stats()).encode()
    if method == "POST" and path == "/_reset":
        ledger.reset()
        return 200, b"{}"
    if method == "GET" and path == "/health":
        return 200, b'{"status": "ok"}'
    return 404, b"{}"


class HttpProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1: Content-Length bodies, keep-alive, pipelining."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # a TCP server's (uvloop's is no subclass)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (request := self._next_request()) is not None:
            method, path, body, close = request
            status, payload = answer(self._ledger, method, path, body)
            self._write(status, payload, close)
            if close:
                return

    def _next_request(self) -> tuple[str, str, bytes, bool] | None:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            return None
        lines = self._buffer[:end].decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        start = end + len(_HEAD_END)
        if len(self._buffer) < start + length:
            return None
        body, self._buffer = self._buffer[start : start + length], self._buffer[start + length :]
        method, target, version = [*lines[0].split(" "), "", ""][:3]
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        return method, target.partition("?")[0], body, close

    def _write(self, status: int, payload: bytes, close: bool) -> None:
        assert self._transport is not None  # noqa: S101 -- set when the connection opened
        reason = "OK" if status == 200 else "Not Found"
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        self._transport.write(head.encode() + payload)
        if close:
            self._transport.close()


async def serve(port: int) -> None:
    ledger = Ledger()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(ledger), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415 -- optional: the fastest loop there is, when installed
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(args.port))


if __name__ == "__main__":
    main()
