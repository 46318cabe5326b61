"""What every HTTP channel shares: one POST to the provider, its outcome classified.

A provider adapter is a subclass that says how to build its request
(:meth:`HttpChannel.build_request`) and how to read its answer
(:meth:`HttpChannel.read_answer`); the base owns the transport and the rules common to
all providers:

* connection failure, timeout, HTTP 429 and 5xx → ``DeliveryFailed(retryable=True)``;
* an answer the provider recognises as an error → whatever its code table says;
* any other 4xx → ``DeliveryFailed(retryable=False)``;
* a 2xx the adapter cannot read → ``retryable=False``: the provider may well have
  accepted the message, and a retry could reach the client twice.

Every reason passes :func:`scrub`, so the phone and the text never leave in one.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import ClassVar, TypeVar

import attrs

from barbershop_adapters.channels.provider_client import (
    ClosedOnExit,
    ProviderAnswer,
    ProviderClient,
    ProviderRequest,
    ProviderTimeout,
    ProviderUnreachable,
)
from barbershop_core.ports import DeliveryFailed, OutgoingMessage, SendReceipt

__all__ = [
    "HttpChannel",
    "ProviderAnswer",
    "ProviderRequest",
    "Verdict",
    "is_success",
    "member",
    "permanent",
    "scrub",
    "transient",
]

MAX_REASON_LENGTH = 200
_SAFE_DETAIL = re.compile(r"^[\w .:-]{1,60}$")

_Code = TypeVar("_Code")


@attrs.frozen
class Verdict:
    """How one provider error code is reported to the manager."""

    what: str
    retryable: bool


def permanent(what: str) -> Verdict:
    return Verdict(what, retryable=False)


def transient(what: str) -> Verdict:
    return Verdict(what, retryable=True)


def member(body: object, *path: str | int) -> object:
    """``body[path[0]][path[1]]…`` of decoded JSON, or None where the shape differs."""
    for key in path:
        if isinstance(key, str) and isinstance(body, Mapping):
            body = body.get(key)
        elif isinstance(key, int) and isinstance(body, list) and -len(body) <= key < len(body):
            body = body[key]
        else:
            return None
    return body


def scrub(reason: str, message: OutgoingMessage) -> str:
    """The reason with the phone (in any of its usual spellings) and the text cut out."""
    digits = message.phone.e164.removeprefix("+")
    for secret in (message.text, message.phone.e164, digits):
        if secret:
            reason = reason.replace(secret, "***")
    return reason[:MAX_REASON_LENGTH]


class HttpChannel(ClosedOnExit, abc.ABC):
    """Implements ``NotificationChannel`` over one HTTP POST per message.

    Pass ``client`` to share a connection pool (one :class:`ProviderClient` for every
    channel of an installation); the channel applies its own timeout to every request
    either way. A client the channel created itself is closed by :meth:`aclose`.
    """

    provider: ClassVar[str]
    """The provider's name as the manager knows it; starts every reason."""
    deduplicates: bool = False
    """The provider drops a repeat of the same notification id (see ``NotificationChannel``)."""
    carries_only_code: bool = False
    """The provider delivers a numeric code and no text (see ``NotificationChannel``)."""

    def __init__(self, *, timeout_seconds: float, client: ProviderClient | None = None) -> None:
        if timeout_seconds <= 0:
            raise ValueError("a channel timeout must be positive")
        self._timeout = timeout_seconds
        self._owns_client = client is None
        self._client = client if client is not None else ProviderClient()

    @abc.abstractmethod
    def build_request(self, message: OutgoingMessage) -> ProviderRequest:
        """Raises :class:`DeliveryFailed` for a message this provider cannot carry."""

    @abc.abstractmethod
    def read_answer(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt | None:
        """The receipt of an accepted message; raises :class:`DeliveryFailed` for an error
        the provider reports; None for an answer it does not recognise."""

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        try:
            answer = await self._post(self.build_request(message))
            return self._conclude(answer, message)
        except DeliveryFailed as failure:
            # Raised anew without its context: exceptions of the transport hold the request.
            raise DeliveryFailed(scrub(failure.reason, message), retryable=failure.retryable) from None

    def failure(self, what: str, detail: str | None = None, *, retryable: bool) -> DeliveryFailed:
        """``detail`` (a code, a status) is kept only when it looks like one."""
        shown = f" ({detail})" if detail and _SAFE_DETAIL.match(detail) else ""
        return DeliveryFailed(f"{self.provider}: {what}{shown}", retryable=retryable)

    def failure_for(self, verdict: Verdict, code: object) -> DeliveryFailed:
        return self.failure(verdict.what, f"код {code}", retryable=verdict.retryable)

    def reject(self, code: _Code, table: Mapping[_Code, Verdict], default: Verdict) -> DeliveryFailed:
        """The failure for a provider's error code, by its table."""
        return self.failure_for(table.get(code, default), code)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _post(self, request: ProviderRequest) -> ProviderAnswer:
        try:
            return await self._client.post(request, timeout_seconds=self._timeout)
        except ProviderTimeout:
            raise self.failure("провайдер не ответил вовремя", retryable=True) from None
        except ProviderUnreachable as exc:
            raise self.failure("не удалось связаться с провайдером", exc.kind, retryable=True) from None

    def _conclude(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt:
        status = answer.status_code
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise self.failure("слишком много запросов, провайдер просит подождать", f"HTTP {status}", retryable=True)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise self.failure("сбой на стороне провайдера", f"HTTP {status}", retryable=True)
        receipt = self.read_answer(answer, message)
        if receipt is not None:
            return receipt
        if is_success(status):
            raise self.failure("ответ провайдера не распознан, сообщение могло уйти", f"HTTP {status}", retryable=False)
        raise self.failure("провайдер отклонил запрос", f"HTTP {status}", retryable=False)


def is_success(status: int) -> bool:
    return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES
