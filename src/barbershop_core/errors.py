"""Domain errors: a stable machine ``code`` and a Russian message fit to show a person.

Adapters map these to their own world (HTTP status, CLI exit code) in one place each;
the core never knows about transports.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code: str = "domain_error"
    title: str = "Ошибка"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.title
        super().__init__(self.message)


class ValidationError(DomainError):
    """Input breaks a rule; ``field`` names the offending input when there is one."""

    code = "validation_error"
    title = "Проверьте введённые данные"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class InvalidPhone(ValidationError):
    code = "invalid_phone"
    title = "Проверьте номер"

    def __init__(self, message: str | None = None, *, field: str = "phone") -> None:
        super().__init__(message or self.title, field=field)


class NotFound(DomainError):
    code = "not_found"
    title = "Не найдено"


class ClientExists(DomainError):
    """A1: the phone belongs to a client registered earlier than the idempotency window."""

    code = "client_exists"
    title = "Клиент уже существует"

    def __init__(self, *, client_id: int, person_id: int) -> None:
        self.client_id = client_id
        self.person_id = person_id
        super().__init__()


class PersonExists(DomainError):
    """The phone is taken by a person; ``client_id`` is set when that person is a client."""

    code = "person_exists"
    title = "Телефон уже зарегистрирован"

    def __init__(self, *, person_id: int, client_id: int | None = None) -> None:
        self.person_id = person_id
        self.client_id = client_id
        super().__init__()


class ChannelUnavailable(DomainError):
    """A7: the channel is inactive, unknown or cannot reach this client."""

    code = "channel_unavailable"
    title = "Канал уведомлений недоступен"

    def __init__(self, channel: str, active_channels: Sequence[str], message: str | None = None) -> None:
        self.channel = channel
        self.active_channels = tuple(active_channels)
        super().__init__(message or f"Канал «{channel}» недоступен, выберите другой или отложите уведомление")


class TemplateMissing(DomainError):
    """A7 / variant 1: no active template with that code for that channel."""

    code = "template_missing"
    title = "Шаблон уведомления не найден"

    def __init__(self, template_code: str, channel: str, active_channels: Sequence[str]) -> None:
        self.template_code = template_code
        self.channel = channel
        self.active_channels = tuple(active_channels)
        super().__init__(f"Нет шаблона «{template_code}» для канала «{channel}»")


class ConsentRequired(DomainError):
    """A5: marketing messages need the client's marketing consent."""

    code = "consent_required"
    title = "Нет согласия клиента на рекламные сообщения"


class InvalidTransition(DomainError):
    code = "invalid_transition"
    title = "Недопустимая смена статуса уведомления"


class NotificationInProgress(DomainError):
    code = "notification_in_progress"
    title = "Уведомление ещё отправляется"


class TemporaryError(DomainError):
    """A3: the store or the network failed; nothing was saved, the caller may retry."""

    code = "temporary_error"
    title = "Временная ошибка, попробуйте снова"


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    title = "Неверный логин или пароль"


class TemporaryPasswordExpired(InvalidCredentials):
    """The client's temporary password was right but has expired."""

    code = "temporary_password_expired"
    title = "Срок действия временного пароля истёк"

    def __init__(self) -> None:
        super().__init__("Срок действия временного пароля истёк. Попросите администратора салона отправить новый")


class TemporaryPasswordVoided(InvalidCredentials):
    """Too many wrong passwords voided the client's temporary password."""

    code = "temporary_password_voided"
    title = "Временный пароль больше не действует"

    def __init__(self) -> None:
        super().__init__(
            "Временный пароль аннулирован после нескольких неверных попыток. "
            "Попросите администратора салона отправить новый"
        )


class PasswordChangeRequired(DomainError):
    code = "password_change_required"
    title = "Смените временный пароль"


class LoginTaken(DomainError):
    code = "login_taken"
    title = "Такой логин уже занят"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    title = "Ключ идемпотентности уже использован с другим запросом"


class IdempotencyInFlight(DomainError):
    code = "idempotency_in_flight"
    title = "Запрос с этим ключом идемпотентности ещё выполняется"
