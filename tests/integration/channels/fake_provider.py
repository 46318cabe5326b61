"""A fake notification provider: a real HTTP server on 127.0.0.1 that records what it gets.

It answers every request with the current :class:`Reply` — success, 429, 5xx, 4xx, a
provider-level error body, a body that is not JSON — or holds the request unanswered
(``hang``) until the server stops, so that the client's timeout fires.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

_HANG_LIMIT_SECONDS = 30


@attrs.frozen
class Reply:
    status: int = 200
    body: object = None
    """Sent as JSON unless ``raw`` is given."""
    raw: bytes | None = None
    hang: bool = False
    cut_short: bool = False
    """Announce the whole body, send half of it and close the connection."""

    @classmethod
    def json(cls, body: object, status: int = 200) -> Reply:
        return cls(status=status, body=body)

    @classmethod
    def text(cls, text: str, status: int) -> Reply:
        return cls(status=status, raw=text.encode())

    @classmethod
    def hanging(cls) -> Reply:
        return cls(hang=True)

    @classmethod
    def cut_short_json(cls, body: object, status: int = 200) -> Reply:
        return cls(status=status, body=body, cut_short=True)


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.reply = Reply.json({})
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-provider", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def last(self) -> RecordedRequest:
        assert self.requests, "the provider got no request"
        return self.requests[-1]

    def reply_with(self, reply: Reply) -> None:
        self.reply = reply

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self.reply

    def wait_for_release(self) -> None:
        self._release.wait(_HANG_LIMIT_SECONDS)


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = fake.record(
                RecordedRequest(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
            )
            if reply.hang:
                fake.wait_for_release()
                self.close_connection = True
                return
            payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain" if reply.raw is not None else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if reply.cut_short:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens: connecting is refused."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = server.server_address[:2]
    server.server_close()
    return f"http://{host!s}:{port}"
