"""Example bodies shared by several operations of the OpenAPI document."""

from __future__ import annotations

from typing import Any, Final

NOTIFICATION: Final[dict[str, Any]] = {
    "id": 43,
    "client_id": 42,
    "channel": "sms",
    "template_code": "REG_WELCOME",
    "kind": "service",
    "status": "sent",
    "created_at": "2025-11-22T10:15:00Z",
    "next_attempt_at": None,
    "provider_message_id": "sms-7f3a",
    "last_error": None,
    "resend_of": None,
    "superseded_by": None,
    "attempt_count": 1,
    "needs_attention": False,
    "attempts": [
        {
            "number": 1,
            "channel": "sms",
            "at": "2025-11-22T10:15:01Z",
            "outcome": "sent",
            "provider_message_id": "sms-7f3a",
            "error": None,
        }
    ],
    "history": [
        {"status": "scheduled", "at": "2025-11-22T10:15:00Z", "reason": None},
        {"status": "sent", "at": "2025-11-22T10:15:01Z", "reason": None},
    ],
}

FAILED_NOTIFICATION: Final[dict[str, Any]] = NOTIFICATION | {
    "status": "failed",
    "provider_message_id": None,
    "last_error": "Провайдер недоступен",
    "attempt_count": 4,
    "needs_attention": True,
    "attempts": [],
    "history": [
        {"status": "scheduled", "at": "2025-11-22T10:15:00Z", "reason": None},
        {"status": "failed", "at": "2025-11-22T10:25:00Z", "reason": "Попытки отправки исчерпаны"},
    ],
}

HELD_NOTIFICATION: Final[dict[str, Any]] = NOTIFICATION | {
    "status": "held",
    "provider_message_id": None,
    "attempt_count": 0,
    "needs_attention": True,
    "attempts": [],
    "history": [{"status": "held", "at": "2025-11-22T10:15:00Z", "reason": "Отложено менеджером"}],
}

CLIENT_LINKS: Final = {
    "card": {"href": "/api/clients/42", "method": "GET"},
    "update": {"href": "/api/clients/42", "method": "PATCH"},
}

CARD: Final[dict[str, Any]] = {
    "id": 42,
    "person_id": 41,
    "phone": "+79111234567",
    "first_name": "Иван",
    "login": "+79111234567",
    "must_change_password": True,
    "temporary_password_expires_at": "2025-11-25T10:15:00Z",
    "temporary_password_voided_at": None,
    "first_signed_in_at": None,
    "registered_at": "2025-11-22T10:15:00Z",
    "registered_by": "manager:1",
    "source": "manager",
    "full_name": None,
    "email": None,
    "channel_accounts": {},
    "consents": {"personal_data": True, "marketing": False},
    "notifications": [NOTIFICATION],
    "purchases": [],
    "links": CLIENT_LINKS,
}

REGISTRATION: Final[dict[str, Any]] = {
    "person_id": 41,
    "client_id": 42,
    "login": "+79111234567",
    "phone": "+79111234567",
    "notification_id": 43,
    "notification_status": "scheduled",
    "idempotent": False,
    "links": CLIENT_LINKS | {"notification": {"href": "/api/notifications/43", "method": "GET"}},
}
