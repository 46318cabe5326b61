"""Prometheus metrics, counted at the boundary: the core imports nothing of this.

What is counted where:

* registrations (manager API and page) around ``register_client``, by outcome;
* partner registrations by partner and outcome: the single endpoint in the app's
  ``before_send`` hook (one per request), the bulk endpoint per participant of its answer
  (JSON or NDJSON) plus one per whole request it refuses;
* providers' delivery reports (webhooks and the signed callback) by channel, reported
  status and what they did;
* notifications: every provider hand-over goes through :class:`MeteredChannel`, wrapped
  around each channel adapter by the composition root (status, latency, provider error
  code); every attempt of the send task by its :class:`AttemptResult`;
* login failures in the login controllers;
* the backlog (due and not sent) and the age of its oldest item are read from the
  database when ``/metrics`` is scraped: the database owns that state, so every process
  reports the same figure.

Multi-process: ``prometheus_client`` keeps each process's values in files under
``PROMETHEUS_MULTIPROC_DIR`` when that variable is set before it is imported, and
:func:`exposition` sums them. ``barbershop serve --workers N`` (N > 1) sets it to a fresh
directory of its own when the operator did not. Labels hold channel codes, statuses,
outcome words, provider codes and partner names (configured by the operator) — never a
phone, a name or an e-mail.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Final, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    InvalidCredentials,
    PersonExists,
    TemplateMissing,
    TemporaryError,
    ValidationError,
)
from barbershop_core.ports import DeliveryFailed, NotificationChannel, OutgoingMessage, SendReceipt

MULTIPROC_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
TOKEN_VARIABLE: Final = "BARBERSHOP_METRICS_TOKEN"  # noqa: S105 -- the variable's name, not a secret
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

REGISTRATIONS: Final = Counter(
    "barbershop_registrations",
    "Client registrations (UC04) by outcome: created, idempotent, exists, invalid, rejected, temporary_error, error",
    ["outcome"],
)
PARTNER_REGISTRATIONS: Final = Counter(
    "barbershop_partner_registrations",
    "Partner (promo) registrations by partner and outcome: created, replayed, invalid, conflict, error",
    ["partner", "outcome"],
)
NOTIFICATION_SENDS: Final = Counter(
    "barbershop_notification_sends",
    "Provider hand-overs by channel and status: sent, failed (permanent), retryable_error",
    ["channel", "status"],
)
SEND_DURATION: Final = Histogram(
    "barbershop_notification_send_duration_seconds",
    "Time of one provider call by channel",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_ERRORS: Final = Counter(
    "barbershop_provider_errors",
    "Provider errors by channel and the provider's code (retryable / permanent when it gave none)",
    ["channel", "code"],
)
SEND_ATTEMPTS: Final = Counter(
    "barbershop_notification_attempts",
    "Send task runs by result: sent, retry_scheduled, failed, held, skipped",
    ["result"],
)
SEND_RETRIES: Final = Counter(
    "barbershop_notification_retries",
    "Send attempts that failed and were scheduled again (A4 backoff)",
)
DELIVERY_REPORTS: Final = Counter(
    "barbershop_delivery_reports",
    "Providers' delivery reports by channel, reported status (delivered, failed, progress) and "
    "outcome (applied, unchanged, kept: no notification carries the message id yet)",
    ["channel", "status", "outcome"],
)
LOGIN_FAILURES: Final = Counter(
    "barbershop_login_failures",
    "Refused sign-ins by kind of account: manager, client",
    ["kind"],
)

_PROVIDER_CODE: Final = re.compile(r"\(код ([A-Za-z0-9_.-]{1,32})\)")

R = TypeVar("R")


def registration_outcome(error: BaseException | None, *, idempotent: bool = False) -> str:
    if error is None:
        return "idempotent" if idempotent else "created"
    if isinstance(error, ClientExists | PersonExists):
        return "exists"
    if isinstance(error, ValidationError):
        return "invalid"
    if isinstance(error, ChannelUnavailable | TemplateMissing | ConsentRequired):
        return "rejected"
    if isinstance(error, TemporaryError):
        return "temporary_error"
    return "error"


async def counted_registration(work: Awaitable[R], *, idempotent: Callable[[R], bool]) -> R:
    """``work`` (a registration), counted in ``barbershop_registrations_total`` by its outcome."""
    try:
        result = await work
    except Exception as error:
        REGISTRATIONS.labels(registration_outcome(error)).inc()
        raise
    REGISTRATIONS.labels(registration_outcome(None, idempotent=idempotent(result))).inc()
    return result


async def counted_login(kind: str, work: Awaitable[R]) -> R:
    """A sign-in; a refused one is counted in ``barbershop_login_failures_total``."""
    try:
        return await work
    except InvalidCredentials:
        LOGIN_FAILURES.labels(kind).inc()
        raise


def partner_outcome(status: int, *, replayed: bool) -> str:
    if status < 300:
        return "replayed" if replayed else "created"
    if status == 409:
        return "conflict"
    if status < 500:
        return "invalid"
    return "error"


def count_partner_participants(partner: str, *, created: int, replayed: int, invalid: int) -> None:
    """The participants of one bulk answer, by outcome (refused items are ``invalid``)."""
    for outcome, count in (("created", created), ("replayed", replayed), ("invalid", invalid)):
        if count:
            PARTNER_REGISTRATIONS.labels(partner, outcome).inc(count)


def count_delivery_report(channel: str, status: str | None, outcome: str) -> None:
    """One provider report; ``status`` None is a report of progress (accepted, sent on)."""
    DELIVERY_REPORTS.labels(channel, status or "progress", outcome).inc()


def provider_error_code(failure: DeliveryFailed) -> str:
    """The provider's own code when the reason carries one (``(код 207)``), else the kind."""
    found = _PROVIDER_CODE.search(failure.reason)
    if found is not None:
        return found.group(1)
    return "retryable" if failure.retryable else "permanent"


class MeteredChannel:
    """A ``NotificationChannel`` around another: counts and times every hand-over."""

    def __init__(self, code: str, inner: NotificationChannel) -> None:
        self.code = code
        self.inner = inner

    @property
    def deduplicates(self) -> bool:
        return self.inner.deduplicates

    @property
    def carries_only_code(self) -> bool:
        return self.inner.carries_only_code

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        started = time.perf_counter()
        try:
            receipt = await self.inner.send(message)
        except DeliveryFailed as failure:
            status = "retryable_error" if failure.retryable else "failed"
            NOTIFICATION_SENDS.labels(self.code, status).inc()
            PROVIDER_ERRORS.labels(self.code, provider_error_code(failure)).inc()
            raise
        finally:
            SEND_DURATION.labels(self.code).observe(time.perf_counter() - started)
        NOTIFICATION_SENDS.labels(self.code, "sent").inc()
        return receipt

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


def count_attempt(result: str) -> None:
    SEND_ATTEMPTS.labels(result).inc()
    if result == "retry_scheduled":
        SEND_RETRIES.inc()


class _Backlog(Collector):
    def __init__(self, count: int, oldest_due: datetime | None, now: datetime) -> None:
        self._count, self._oldest, self._now = count, oldest_due, now

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "barbershop_notification_backlog", "Notifications due and not sent (scheduled, due now)", value=self._count
        )
        age = 0.0 if self._oldest is None else max(0.0, (self._now - self._oldest).total_seconds())
        yield GaugeMetricFamily(
            "barbershop_notification_backlog_oldest_age_seconds",
            "How long the oldest due-and-not-sent notification has been due (0 when none)",
            value=age,
        )


def exposition(backlog: tuple[int, datetime | None, datetime] | None = None) -> bytes:
    """The text exposition: this process's metrics, or every process's in multi-process mode."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if backlog is not None:
        extra = CollectorRegistry()
        extra.register(_Backlog(*backlog))
        text += generate_latest(extra)
    return text


def authorized(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.isascii():
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_wsgi_app(token: str | None) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The worker's ``/metrics``: the same token rule as ``serve`` (404 without a token)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or not token:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"unauthorized\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [exposition()]

    return app
