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
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any, Final, TextIO
from urllib.parse import quote, unquote, unquote_plus

from barbershop_core.values import mask_phone

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


def log_handler(stream: TextIO | None = None) -> logging.Handler:
    """The handler every process logs through (stderr by default): one format, phones masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(PhoneMaskingFilter())
    return handler


QUIET_LOGGERS: Final = {"sqlalchemy.engine": logging.WARNING, "aiosqlite": logging.INFO}
"""Libraries that at DEBUG log statement parameters and result rows, which hold personal data."""


def logging_config(level: int = logging.INFO) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of every process; uvicorn applies it in each worker it spawns."""
    uvicorn_loggers = ("uvicorn", "uvicorn.error", ACCESS_LOGGER)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": f"{__name__}.log_handler"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            **{name: {"level": quiet} for name, quiet in QUIET_LOGGERS.items()},
            # uvicorn's own loggers go through the one handler (its default config gives them others).
            **{name: {"handlers": [], "propagate": True} for name in uvicorn_loggers},
        },
    }


def configure_logging(level: int = logging.INFO) -> None:
    logging.config.dictConfig(logging_config(level))
