"""Request and response bodies of the client's own API (``/api/client/…``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import attrs
from msgspec import Meta

from barbershop_core.model import CONSENT_TYPES
from barbershop_core.use_cases.client_accounts import ClientAccount, ClientProfile
from barbershop_entrypoints.http.schemas import BodyStruct, ChangePasswordRequest, LoginText, PasswordText

ClientLoginText = Annotated[
    LoginText,
    Meta(
        description=(
            "Логин из приветственного сообщения — телефон в любом привычном виде: `+79111234567`, `8 911 123-45-67`"
        )
    ),
]
"""The manager's login constraints, with the client's own description."""


class ClientLoginRequest(BodyStruct):
    login: ClientLoginText
    password: PasswordText


class ClientChangePasswordRequest(ChangePasswordRequest):
    """`current_password` — временный пароль из приветственного сообщения или уже свой."""


@attrs.frozen(kw_only=True)
class ClientBriefOut:
    id: int
    first_name: str
    phone: str


@attrs.frozen(kw_only=True)
class ClientTokenOut:
    access_token: str
    token_type: Literal["bearer"]
    expires_at: datetime
    expires_in: int
    """Seconds until the token expires."""
    must_change_password: bool
    """True: the token opens only ``POST /api/client/auth/change-password``."""
    client: ClientBriefOut


@attrs.frozen(kw_only=True)
class ConsentOut:
    code: str
    title: str
    granted: bool
    """False also when the client was never asked."""
    recorded_at: datetime | None = None
    recorded_by: str | None = None
    """``manager:<id>``, ``partner:<id>`` or ``client:<id>`` (the client themself)."""


@attrs.frozen(kw_only=True)
class ClientMeOut:
    id: int
    first_name: str
    phone: str
    login: str
    registered_at: datetime
    first_signed_in_at: datetime | None = None
    must_change_password: bool
    consents: list[ConsentOut]
    """Every consent type, in a fixed order."""


CONSENTS_DESCRIPTION = (
    "Согласия по типам (`personal_data`, `marketing`): `true` — дать, `false` — отозвать; неназванные типы не меняются"
)


def brief_body(account: ClientAccount) -> ClientBriefOut:
    return ClientBriefOut(
        id=account.client.id, first_name=str(account.person.first_name), phone=account.person.phone.e164
    )


def me_body(profile: ClientProfile) -> ClientMeOut:
    person = profile.person
    consents = []
    for kind in CONSENT_TYPES:
        record = profile.consents.get(kind.code)
        consents.append(
            ConsentOut(
                code=kind.code,
                title=kind.title,
                granted=profile.granted(kind.code),
                recorded_at=record.recorded_at if record else None,
                recorded_by=record.recorded_by if record else None,
            )
        )
    return ClientMeOut(
        id=profile.client.id,
        first_name=str(person.first_name),
        phone=person.phone.e164,
        login=str(person.login),
        registered_at=profile.client.registered_at,
        first_signed_in_at=person.first_signed_in_at,
        must_change_password=person.must_change_password,
        consents=consents,
    )
