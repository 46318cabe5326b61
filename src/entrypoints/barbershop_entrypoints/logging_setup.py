"""Logging for every process: one format, and phones masked in every line as a last guard.

The code logs masked phones already; the filter catches anything that slips through
(a library's message, an exception text) so no raw phone reaches a log. Every process
(``serve`` and each of its ``--workers``, ``worker``, ``scheduler``, the other commands)
is configured from the one :func:`logging_config`: uvicorn applies it again in each worker
process it spawns, which would otherwise log nothing of its own.

A request target in the access log is masked harder than free text: it is decoded first
(percent escapes, ``+`` for a space, escapes encoded twice), query value by query value,
and any run of 10–15 digits joined by punctuation (``8+916+555-12-34``,
``8.916.555.12.34``) counts as a phone there.

``BARBERSHOP_LOG_FORMAT=json`` turns every line into one JSON object (time, level, logger,
message, the request id of the request being served, the exception): the same masking
applies, to the exception's text too. Plain text is the default.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO
from urllib.parse import quote, unquote, unquote_plus

from barbershop_core.values import mask_phone
from barbershop_entrypoints.settings import read_log_format

# +7 911 123-45-67, 89111234567, +79111234567: 10–15 digits with optional separators.
_PHONE = re.compile(r"(?<![\w*])\+?\d(?:[\s\-()]*\d){9,14}(?!\w)")
# In a URL: any punctuation between the digits (dots, pluses, slashes, underscores…).
_URL_PHONE = re.compile(r"(?<![\w*])\+?\d(?:[\W_]{0,3}\d){9,14}(?![0-9])")
_DECODE_ROUNDS: Final = 3
_KEPT_IN_URL: Final = "/+*-._~:@!$'(),;"

ACCESS_LOGGER: Final = "uvicorn.access"


def _masked(match: re.Match[str]) -> str:
    return mask_phone("+" + "".join(ch for ch in match.group(0) if ch.isdigit()))


def mask_phones(text: str) -> str:
    if "%" in text:
        # A URL in a log line: ``?phone=%2B79111234567`` hides the phone from the
        # pattern until it is decoded, so a line that holds one is logged decoded and masked.
        decoded = unquote(text)
        masked = _PHONE.sub(_masked, decoded)
        if masked != decoded:
            return masked
    return _PHONE.sub(_masked, text)


def _mask_url_part(text: str, *, plus_is_space: bool) -> str:
    """Decoded (escapes encoded twice included), phones masked, encoded again (no raw control character)."""
    for round_ in range(_DECODE_ROUNDS):
        # Only the form encoding's own ``+`` is a space: a ``%2B`` it decoded to is a plus.
        decoded = unquote_plus(text) if plus_is_space and round_ == 0 else unquote(text)
        if decoded == text:
            break
        text = decoded
    return quote(_URL_PHONE.sub(_masked, text), safe=_KEPT_IN_URL)


def mask_url(target: str) -> str:
    """A request target (path and query) fit for a log: decoded, phones masked, re-encoded."""
    path, question, query = target.partition("?")
    masked = _mask_url_part(path, plus_is_space=False)
    if not question:
        return masked
    fields = (field.partition("=") for field in query.split("&"))
    query = "&".join(
        _mask_url_part(name, plus_is_space=True) + equals + _mask_url_part(value, plus_is_space=True)
        for name, equals, value in fields
    )
    return f"{masked}?{query}"


class PhoneMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            # uvicorn's access line: (client, method, target, http version, status).
            client, method, target, version, status = record.args
            record.args = (client, method, mask_url(str(target)), version, status)
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMAT_VARIABLE: Final = "BARBERSHOP_LOG_FORMAT"

REQUEST_ID: ContextVar[str | None] = ContextVar("barbershop_request_id", default=None)
"""The id of the HTTP request being served (set by the app's middleware), for JSON lines."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line; phones masked in the message (by the filter) and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_phones(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = mask_phones(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def _formatter(log_format: str | None) -> logging.Formatter:
    chosen = (log_format if log_format is not None else read_log_format()).strip().lower()
    if chosen == "json":
        return JsonFormatter()
    if chosen not in {"", "text"}:
        raise ValueError(f"{FORMAT_VARIABLE} is {chosen!r}: use text or json")
    return logging.Formatter(FORMAT)


def log_handler(stream: TextIO | None = None, log_format: str | None = None) -> logging.Handler:
    """The handler every process logs through (stderr by default): one format, phones masked.

    ``log_format``: ``text`` or ``json``; by default ``BARBERSHOP_LOG_FORMAT`` (``text``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter(log_format))
    handler.addFilter(PhoneMaskingFilter())
    return handler


QUIET_LOGGERS: Final = {"sqlalchemy.engine": logging.WARNING, "aiosqlite": logging.INFO}
"""Libraries that at DEBUG log statement parameters and result rows, which hold personal data."""
TERSE_LOGGERS: Final = {"alembic.runtime.plugins": logging.WARNING}
"""Libraries whose INFO lines tell an operator nothing (Alembic names each of its plugins at
every ``barbershop db upgrade``, seven lines before the one that matters)."""


def logging_config(level: int = logging.INFO) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of every process; uvicorn applies it in each worker it spawns."""
    uvicorn_loggers = ("uvicorn", "uvicorn.error", ACCESS_LOGGER)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": f"{__name__}.log_handler"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            **{name: {"level": quiet} for name, quiet in (QUIET_LOGGERS | TERSE_LOGGERS).items()},
            # uvicorn's own loggers go through the one handler (its default config gives them others).
            **{name: {"handlers": [], "propagate": True} for name in uvicorn_loggers},
        },
    }


def configure_logging(level: int = logging.INFO) -> None:
    logging.config.dictConfig(logging_config(level))
