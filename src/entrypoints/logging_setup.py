"""Logging for every process: one format, and phones masked in every line as a last guard.

The code logs masked phones already; the filter catches anything that slips through
(a library's message, an exception text) so no raw phone reaches a log.
"""

from __future__ import annotations

import logging
import re
from typing import Final, TextIO
from urllib.parse import unquote

from barbershop_core.values import mask_phone

# +7 911 123-45-67, 89111234567, +79111234567: 10–15 digits with optional separators.
_PHONE = re.compile(r"(?<![\w*])\+?\d(?:[\s\-()]*\d){9,14}(?!\w)")


def mask_phones(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = "+" + "".join(ch for ch in match.group(0) if ch.isdigit())
        return mask_phone(digits)

    if "%" in text:
        # A URL in an access log line: ``?phone=%2B79111234567`` hides the phone from the
        # pattern until it is decoded, so a line that holds one is logged decoded and masked.
        decoded = unquote(text)
        masked = _PHONE.sub(replace, decoded)
        if masked != decoded:
            return masked
    return _PHONE.sub(replace, text)


class PhoneMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def log_handler(stream: TextIO | None = None) -> logging.Handler:
    """The handler every process logs through (stderr by default): one format, phones masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PhoneMaskingFilter())
    return handler


QUIET_LOGGERS: Final = {"sqlalchemy.engine": logging.WARNING, "aiosqlite": logging.INFO}
"""Libraries that at DEBUG log statement parameters and result rows, which hold personal data."""


def configure_logging(level: int = logging.INFO) -> None:
    handler = log_handler()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
