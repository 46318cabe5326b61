"""The providers' HTTP client: one POST, its status and its JSON, on aiohttp.

Why aiohttp and not httpx (which the rest of the project uses where speed does not
matter): a worker's send is otherwise cheap, and the provider call is most of what is
left of it. Measured on the 2-CPU machine of ``docs/performance.md`` against the same
local fake SMS.ru, 100 requests in flight: httpx 530–590 requests/s at 1.7 ms of CPU per
request, aiohttp 5,300–5,700 requests/s at 0.14 ms. aiohttp already ships with the
server (Taskiq depends on it).

One :class:`ProviderClient` holds one connection pool for every channel of a process.
Its session is opened on first use, inside the running event loop (aiohttp binds a
session to its loop), and closed by :meth:`ProviderClient.aclose`.

The proxy of the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) is looked up
once per provider origin, not by aiohttp's ``trust_env``: that reads ``~/.netrc`` and the
environment again on a thread of the default executor for every request — two thread hops
that were ~40 % of a busy worker's Python (``docs/performance.md``) — and would send a
``~/.netrc`` login along to a provider, which no channel asks for.
"""

from __future__ import annotations

import abc
import json
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import Final, Self

import aiohttp
import attrs
from yarl import URL

CONNECT_TIMEOUT_SECONDS: Final = 5.0
POOL_SIZE: Final = 100
"""Connections open at once to all providers together (aiohttp's default), as many as a worker's
default ``--concurrency``: a send beyond it waits for a connection within its own timeout."""
MAX_ANSWER_BYTES: Final = 1 << 20
"""A provider's answer to one send is a few hundred bytes; a longer one is not read."""


@attrs.frozen
class ProviderRequest:
    """One POST: a JSON body or a form, never the message in the URL."""

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    json_body: object = attrs.field(default=None, repr=False)
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class ProviderAnswer:
    status_code: int
    body: object
    """The decoded JSON, or None when the body is not JSON."""


class ProviderTimeout(Exception):
    """The provider did not answer within the channel's timeout."""


class ProviderUnreachable(Exception):
    """No status came back: refused, reset, DNS, TLS. ``kind`` names the failure, never the URL."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ClosedOnExit(abc.ABC):
    """``async with`` closes it (:meth:`aclose`)."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def environment_proxy(url: URL) -> URL | None:
    """The proxy the environment names for ``url`` (``<scheme>_proxy``, upper or lower case;
    none when ``no_proxy`` covers its host). A login in the proxy's URL is aiohttp's to send,
    as ``Proxy-Authorization``; an ``https://`` proxy is spoken to over TLS."""
    if url.host is None or urllib.request.proxy_bypass(url.host):
        return None
    named = urllib.request.getproxies().get(url.scheme)
    return URL(named) if named else None


class ProviderClient(ClosedOnExit):
    """Implements the POST every :class:`~barbershop_adapters.channels.http_base.HttpChannel` sends.

    As the httpx client it replaces: redirects are not followed (a provider that redirects
    a send is answered as a refusal, not re-posted), and the proxy settings of the
    environment (``HTTPS_PROXY`` …) apply (read once per origin, see the module).
    """

    def __init__(self, *, connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
        self._connect_timeout = connect_timeout_seconds
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._proxies: dict[URL, URL | None] = {}

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def post(self, request: ProviderRequest, *, timeout_seconds: float) -> ProviderAnswer:
        """The provider's status and decoded JSON. :class:`ProviderTimeout` or
        :class:`ProviderUnreachable` when no status came back; once a status came, a body
        that breaks off, times out, is too long or is no JSON is answered as ``None``, so
        that an accepted message whose answer cannot be read is not sent again."""
        timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(self._connect_timeout, timeout_seconds))
        try:
            async with self._open().post(
                request.url,
                proxy=self._proxy_for(request.url),
                headers=dict(request.headers),
                json=request.json_body,
                data=dict(request.form) if request.form is not None else None,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                return ProviderAnswer(response.status, await _json_of(response))
        except TimeoutError:  # aiohttp's timeouts (ServerTimeoutError among them) are TimeoutErrors
            raise ProviderTimeout from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ProviderUnreachable(type(exc).__name__) from None

    def _proxy_for(self, address: str) -> URL | None:
        try:
            url = URL(address)
            origin = url.origin()
        except ValueError:
            return None  # no URL to send to: aiohttp refuses it (ProviderUnreachable)
        if origin not in self._proxies:
            self._proxies[origin] = environment_proxy(url)
        return self._proxies[origin]

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the provider client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_SIZE), trust_env=False, raise_for_status=False
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def _json_of(response: aiohttp.ClientResponse) -> object:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                return None
            chunks.append(chunk)
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return None
