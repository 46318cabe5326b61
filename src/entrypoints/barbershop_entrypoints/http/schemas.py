"""Request and response bodies of the JSON API, snake_case names.

Request bodies are ``msgspec.Struct`` classes (:class:`BodyStruct`) whose constraints are declared
once, as ``msgspec.Meta`` in ``Annotated`` aliases: msgspec enforces them when
:mod:`~barbershop_entrypoints.http.bodies` decodes a body, the same declarations become the
``/schema`` document (:mod:`~barbershop_entrypoints.http.body_dto`), and the Russian field messages
are derived from them. Response bodies are attrs classes built from domain results
(:mod:`~barbershop_entrypoints.http.convert`). The domain checks the meaning (a phone is E.164,
a name is printable) with Russian messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import attrs
import msgspec
from msgspec import Meta

from barbershop_core.model import AddressKind, AttemptOutcome, NotificationStatus, TemplateKind
from barbershop_core.use_cases.accounts import MAX_PASSWORD_LENGTH
from barbershop_core.values import Email, FirstName, Login
from barbershop_entrypoints.http.params import MAX_ID, MAX_PHONE_INPUT

NO_CONTROL: Final = r"^[^\u0000-\u001f\u007f]*$"
"""Identifiers and codes: no control characters (a NUL is not even storable in PostgreSQL)."""
NO_NUL: Final = r"^[^\u0000]*$"
"""Free text from a provider: anything but NUL."""

PhoneText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_PHONE_INPUT,
        description="Телефон как его ввёл менеджер: `+79111234567`, `8 911 123-45-67`",
    ),
]
FirstNameText = Annotated[str, Meta(min_length=1, max_length=FirstName.MAX_LENGTH)]
LoginText = Annotated[str, Meta(min_length=1, max_length=Login.MAX_LENGTH, pattern=NO_CONTROL)]
PasswordText = Annotated[str, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Code = Annotated[str, Meta(min_length=1, max_length=64, pattern=NO_CONTROL, description="Код из справочника")]
EmailText = Annotated[str, Meta(min_length=1, max_length=Email.MAX_LENGTH)]
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
AccountText = Annotated[str, Meta(min_length=1, max_length=100, pattern=NO_CONTROL)]
Consents = Annotated[dict[str, bool], Meta(description="Согласия клиента по типам: `personal_data`, `marketing` (A5)")]
ChannelAccounts = Annotated[
    dict[Code, AccountText],
    Meta(description="Аккаунты клиента в каналах, которым мало телефона (например, `vk`)"),
]
ProviderText = Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]
ProviderError = Annotated[str, Meta(max_length=500, pattern=NO_NUL)]


class BodyStruct(msgspec.Struct, kw_only=True):
    """A JSON request body: decoded by msgspec from the ``Meta`` of its fields, and nothing else.

    Unknown members are ignored, as they always were; a docstring of a subclass is the
    description of its schema in ``/schema``, so it is written for the API's readers.
    """


@attrs.frozen(kw_only=True)
class Link:
    href: str
    method: str = "GET"


def client_links(client_id: int) -> dict[str, Link]:
    """A1.1 the card and A1.2 the update of a client."""
    href = f"/api/clients/{client_id}"
    return {"card": Link(href=href, method="GET"), "update": Link(href=href, method="PATCH")}


# --- auth ------------------------------------------------------------------------------


class LoginRequest(BodyStruct):
    login: LoginText
    password: PasswordText


@attrs.frozen(kw_only=True)
class ManagerOut:
    id: int
    login: str
    display_name: str
    must_change_password: bool


@attrs.frozen(kw_only=True)
class LoginResponse:
    access_token: str
    token_type: Literal["bearer"]
    expires_at: datetime
    expires_in: int
    """Seconds until the token expires."""
    must_change_password: bool
    """True: call ``POST /api/auth/change-password`` before anything else."""
    manager: ManagerOut


class ChangePasswordRequest(BodyStruct):
    current_password: PasswordText
    new_password: PasswordText


# --- persons and clients ---------------------------------------------------------------


class PhoneCheckRequest(BodyStruct):
    phone: PhoneText


@attrs.frozen(kw_only=True)
class PhoneCheckOut:
    phone: str
    """Normalised to E.164."""
    exists: bool
    person_id: int | None = None
    client_id: int | None = None


class PersonCreateRequest(BodyStruct):
    phone: PhoneText
    first_name: FirstNameText
    login: LoginText | None = None
    """Defaults to the phone."""


@attrs.frozen(kw_only=True)
class PersonOut:
    id: int
    phone: str
    first_name: str
    login: str
    created_at: datetime
    must_change_password: bool
    temporary_password_expires_at: datetime | None = None


class ClientCreateRequest(BodyStruct):
    person_id: Id
    consents: Consents = msgspec.field(default_factory=dict)
    channel_accounts: ChannelAccounts = msgspec.field(default_factory=dict)


@attrs.frozen(kw_only=True)
class ClientOut:
    id: int
    person_id: int
    registered_at: datetime
    registered_by: str
    source: str
    channel_accounts: dict[str, str]
    links: dict[str, Link]


class ClientUpdateRequest(BodyStruct):
    """A1.2: меняются только переданные поля; `consents` добавляет записи о согласиях, не удаляя прежних."""

    first_name: FirstNameText | None = None
    phone: PhoneText | None = None
    email: EmailText | None = None
    consents: Consents = msgspec.field(default_factory=dict)
    channel_accounts: ChannelAccounts | None = None


@attrs.frozen(kw_only=True)
class StatusChangeOut:
    status: NotificationStatus
    at: datetime
    reason: str | None = None


@attrs.frozen(kw_only=True)
class AttemptOut:
    number: int
    channel: str
    at: datetime
    outcome: AttemptOutcome
    provider_message_id: str | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class NotificationOut:
    id: int
    client_id: int
    channel: str
    template_code: str
    kind: TemplateKind
    status: NotificationStatus
    created_at: datetime
    next_attempt_at: datetime | None = None
    provider_message_id: str | None = None
    last_error: str | None = None
    resend_of: int | None = None
    superseded_by: int | None = None
    attempt_count: int
    needs_attention: bool
    """Failed or held and not replaced yet: a manager should pick another channel (A4, A7)."""
    attempts: list[AttemptOut]
    history: list[StatusChangeOut]


@attrs.frozen(kw_only=True)
class PurchaseOut:
    id: int
    partner_id: int
    name: str
    price: str
    """Roubles with kopecks, as a decimal string: ``"1999.90"``."""
    registered_at: datetime


@attrs.frozen(kw_only=True)
class ClientCardOut:
    """A1.1: everything a manager sees about one client."""

    id: int
    person_id: int
    phone: str
    first_name: str
    login: str
    must_change_password: bool
    temporary_password_expires_at: datetime | None = None
    temporary_password_voided_at: datetime | None = None
    """Set when 5 wrong passwords voided the temporary password: «отправить снова» issues a new one."""
    first_signed_in_at: datetime | None = None
    """When the client first signed in to their account; None: never yet."""
    registered_at: datetime
    registered_by: str
    source: str
    full_name: str | None = None
    email: str | None = None
    channel_accounts: dict[str, str]
    consents: dict[str, bool]
    notifications: list[NotificationOut]
    purchases: list[PurchaseOut]
    links: dict[str, Link]


# --- registration (UC04) ----------------------------------------------------------------


class RegistrationRequest(BodyStruct):
    phone: PhoneText
    first_name: FirstNameText
    channel: Code | None = None
    """Variant 2: a channel checked against current reference data; the default channel otherwise."""
    template_code: Code | None = None
    consents: Consents = msgspec.field(default_factory=dict)
    channel_accounts: ChannelAccounts = msgspec.field(default_factory=dict)
    postpone_notification: bool = False
    """A7: register now and hold the welcome message until a manager picks a channel."""


@attrs.frozen(kw_only=True)
class RegistrationOut:
    person_id: int
    client_id: int
    login: str
    phone: str
    notification_id: int | None = None
    notification_status: NotificationStatus | None = None
    idempotent: bool
    """A6: the same phone within 5 minutes; nothing new was created."""
    links: dict[str, Link]


# --- notifications ---------------------------------------------------------------------


class NotificationCreateRequest(BodyStruct):
    client_id: Id
    template_code: Code | None = None
    channel: Code | None = None
    postpone: bool = False


class ResendRequest(BodyStruct):
    channel: Code


class DeliveryCallbackRequest(BodyStruct):
    status: Literal["delivered", "failed"]
    provider_message_id: ProviderText | None = None
    error: ProviderError | None = None


@attrs.frozen(kw_only=True)
class DeliveryCallbackOut:
    notification_id: int
    status: NotificationStatus
    changed: bool
    """False: a repeated or older report; nothing changed (idempotent, never backwards)."""


@attrs.frozen(kw_only=True)
class WebhookReceiptOut:
    """A provider's report acknowledged: how many statuses it carried and what became of them."""

    reports: int
    applied: int
    unchanged: int
    """Repeated, older than the status, or progress only."""
    unknown: int
    """For a message id no notification carries (yet): kept until its send is recorded."""


@attrs.frozen(kw_only=True)
class TimelineStepOut:
    at: datetime
    notification_id: int
    channel: str
    kind: Literal["created", "attempt", "status"]
    state: str
    """The status reached (``created``, ``status``) or the attempt's outcome (``attempt``)."""
    detail: str | None = None
    """Why: a hold, a fallback step, the provider's error or report."""
    provider_message_id: str | None = None
    replaces: int | None = None
    """``created`` of a fallback step or a resend: the notification it replaced."""


@attrs.frozen(kw_only=True)
class AlertOut:
    """A4 / A7: a notification a manager must act on, and the channels to pick from."""

    notification: NotificationOut
    active_channels: list[str]
    resend: Link


# --- reference data and health ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChannelOut:
    code: str
    title: str
    is_active: bool
    address_kind: AddressKind


@attrs.frozen(kw_only=True)
class TemplateOut:
    code: str
    channel: str
    kind: TemplateKind
    body: str
    is_active: bool


@attrs.frozen(kw_only=True)
class LiveOut:
    status: Literal["ok"]


@attrs.frozen(kw_only=True)
class ReadyOut:
    status: Literal["ok"]
    checks: dict[str, str]
