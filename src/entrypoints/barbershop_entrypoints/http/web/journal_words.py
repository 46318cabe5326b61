"""The «Журнал» of the client card in the manager's words: actions and who did them.

The audit trail stores stable action codes and actor labels (``manager:7``); the API
returns them as they are, the page says them in Russian.
"""

from __future__ import annotations

from typing import Final

from barbershop_core.model import AuditAction

ACTION_WORDS: Final[dict[AuditAction, str]] = {
    AuditAction.PHONE_CHECKED: "проверен телефон",
    AuditAction.CREDENTIALS_ISSUED: "выданы логин и временный пароль",
    AuditAction.PERSON_CREATED: "создан человек",
    AuditAction.CLIENT_CREATED: "создан клиент",
    AuditAction.CONSENT_RECORDED: "записано согласие",
    AuditAction.NOTIFICATION_SCHEDULED: "сообщение поставлено в очередь",
    AuditAction.NOTIFICATION_HELD: "сообщение отложено",
    AuditAction.NOTIFICATION_RELEASED: "сообщение отпущено",
    AuditAction.NOTIFICATION_ATTEMPT_FAILED: "попытка отправки не удалась",
    AuditAction.NOTIFICATION_SENT: "сообщение отправлено",
    AuditAction.NOTIFICATION_DELIVERED: "сообщение доставлено",
    AuditAction.NOTIFICATION_FAILED: "сообщение не доставлено",
    AuditAction.MANAGER_ALERTED: "менеджер предупреждён",
    AuditAction.NOTIFICATION_FELL_BACK: "сообщение отправлено другим каналом",
    AuditAction.REGISTRATION_COMPLETED: "регистрация завершена",
    AuditAction.REGISTRATION_REPLAYED: "повтор регистрации",
    AuditAction.CLIENT_UPDATED: "данные клиента изменены",
    AuditAction.PROMO_REGISTERED: "регистрация от партнёра",
    AuditAction.PROMO_REPLAYED: "повтор запроса партнёра",
    AuditAction.PROMO_REFUSED: "запрос партнёра отклонён",
    AuditAction.REFERENCE_DATA_SYNCED: "справочники обновлены",
    AuditAction.CLIENT_SIGNED_IN: "клиент вошёл",
    AuditAction.CLIENT_SIGN_IN_FAILED: "неудачный вход клиента",
    AuditAction.CLIENT_SIGNED_OUT: "клиент вышел",
    AuditAction.TEMPORARY_PASSWORD_VOIDED: "временный пароль аннулирован",
    AuditAction.CLIENT_PASSWORD_CHANGED: "клиент сменил пароль",
    AuditAction.CLIENT_PROFILE_VIEWED: "клиент открыл свой профиль",
    AuditAction.AUDIT_VIEWED: "просмотрен журнал",
}

_ACTOR_WORDS: Final = {
    "manager": "менеджер №{}",
    "partner": "партнёр №{}",
    "client": "клиент №{}",
    "provider": "провайдер {}",
    "system": "система ({})",
}


def action_words(action: str) -> str:
    """An action code in words; an unknown code (a newer release's) as it is."""
    try:
        return ACTION_WORDS[AuditAction(action)]
    except ValueError:
        return action


def actor_words(actor: str) -> str:
    """``manager:7`` → «менеджер №7»; a label of another shape as it is."""
    kind, _, ident = actor.partition(":")
    template = _ACTOR_WORDS.get(kind)
    return template.format(ident) if template and ident else actor
