"""Personal data in the partner API's logs, and the audit trace of every partner request.

**Logs.** The code logs only masked values (``+7911*****67``, ``i***@mail.ru``). As a
last guard, the loggers of this module carry :class:`PersonalDataFilter`, which masks any
e-mail address and phone left in a line (the handler of
:mod:`barbershop_entrypoints.logging_setup` masks phones only). An API key is never logged.

**Audit trace.** Every partner request, accepted or refused, leaves one line on
``barbershop.partner.audit``: the partner's id (``-`` when the key was missing or wrong),
the request id, the path, the status, the outcome and the masked phone when the body had
a valid one. Each is also an ``audit_events`` row written by the core: ``promo_registered``
(in the registration's own transaction), ``promo_replayed``, or ``promo_refused``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from litestar import Request

from barbershop_core.model import Partner
from barbershop_entrypoints.http.auth import PARTNER
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.logging_setup import mask_phones
from barbershop_entrypoints.metrics import count_partner_participants

MASKED_PHONE: Final = "barbershop_partner_masked_phone"
"""``request.state`` key: the masked phone of the body, once it has parsed."""

# The local part without ``=``, quotes and braces, so that ``email=ivan@mail.ru`` keeps its ``email=``.
_EMAIL: Final = re.compile(r"([\w!#$%&*+/?^~.\-])[\w!#$%&*+/?^~.\-]*@((?:[\w\-]+\.)+\w+)")


def mask_emails(text: str) -> str:
    """``ivan.petrov@mail.ru`` → ``i***@mail.ru`` (the shape of :attr:`Email.masked`)."""
    return _EMAIL.sub(r"\1***@\2", text)


def mask_personal_data(text: str) -> str:
    return mask_phones(mask_emails(text))


class PersonalDataFilter(logging.Filter):
    """Masks e-mail addresses and phones in every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(existing, PersonalDataFilter) for existing in logger.filters):
        logger.addFilter(PersonalDataFilter())
    return logger


log: Final = _logger("barbershop.partner")
audit_log: Final = _logger("barbershop.partner.audit")


def partner_id_of(request: Request[Any, Any, Any]) -> str:
    partner = request.state.get(PARTNER)
    return str(partner.id) if isinstance(partner, Partner) else "-"


def trace_accepted(request: Request[Any, Any, Any], *, client_id: int, replayed: bool, masked_phone: str) -> None:
    audit_log.info(
        "partner_request partner=%s request_id=%s %s status=200 outcome=%s client_id=%s phone=%s",
        partner_id_of(request),
        request_id_of(request.scope),
        request.url.path,
        "replayed" if replayed else "registered",
        client_id,
        masked_phone,
    )


def trace_bulk(request: Request[Any, Any, Any], *, registered: int, replayed: int, refused: int) -> None:
    """Log one bulk answer and count its participants in the partner metric."""
    partner = request.state.get(PARTNER)
    if isinstance(partner, Partner):
        count_partner_participants(partner.name, created=registered, replayed=replayed, invalid=refused)
    audit_log.info(
        "partner_request partner=%s request_id=%s %s status=200 outcome=bulk registered=%s replayed=%s refused=%s",
        partner_id_of(request),
        request_id_of(request.scope),
        request.url.path,
        registered,
        replayed,
        refused,
    )


def trace_refusal(request: Request[Any, Any, Any], status: int, message: str) -> None:
    audit_log.info(
        "partner_request partner=%s request_id=%s %s status=%s outcome=refused phone=%s error=%r",
        partner_id_of(request),
        request_id_of(request.scope),
        request.url.path,
        status,
        request.state.get(MASKED_PHONE, "-"),
        message,
    )
