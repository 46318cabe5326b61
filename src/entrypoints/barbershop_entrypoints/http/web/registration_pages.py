"""UC04 on the page: the «Новый клиент» form (steps 1–2), its submission, and the result (step 9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import attrs
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    DomainError,
    InvalidPhone,
    PersonExists,
    TemplateMissing,
    TemporaryError,
    ValidationError,
)
from barbershop_core.model import ConsentCode
from barbershop_core.use_cases.clients import ClientDeps, GetClientCard, get_client_card
from barbershop_core.use_cases.reference_data import ListChannels, ReferenceDeps, list_channels
from barbershop_core.use_cases.registration import RegisterClient, RegistrationDeps, register_client
from barbershop_entrypoints.http.params import MAX_ID, MAX_PHONE_INPUT, ClientId
from barbershop_entrypoints.http.problems import domain_status
from barbershop_entrypoints.http.web.forms import Form, read_form
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.views import (
    ChannelOption,
    NotificationView,
    channel_options,
    channel_titles,
    client_view,
)
from barbershop_entrypoints.metrics import counted_registration


@attrs.frozen(kw_only=True)
class RegistrationValues:
    """What the manager typed, kept when the form comes back with an error."""

    phone: str = ""
    first_name: str = ""
    channel: str | None = None
    postpone: bool = False
    personal_data: bool = False
    marketing: bool = False
    accounts: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def from_form(cls, form: Form, channels: Sequence[ChannelOption]) -> RegistrationValues:
        accounts = {
            option.code: form.text(f"account_{option.code}")
            for option in channels
            if option.needs_account and form.text(f"account_{option.code}")
        }
        return cls(
            phone=form.text("phone"),
            first_name=form.text("first_name"),
            channel=form.optional("channel"),
            postpone=form.checked("postpone"),
            personal_data=form.checked("consent_personal_data"),
            marketing=form.checked("consent_marketing"),
            accounts=accounts,
        )

    @property
    def consents(self) -> dict[str, bool]:
        return {ConsentCode.PERSONAL_DATA: self.personal_data, ConsentCode.MARKETING: self.marketing}


@attrs.frozen(kw_only=True)
class KnownClient:
    """A1: who the phone already belongs to, with the card (A1.1) and the update (A1.2)."""

    client_id: int
    first_name: str
    card_url: str
    edit_url: str


async def known_client(client_id: int, clients: ClientDeps) -> KnownClient:
    card = await get_client_card(GetClientCard(client_id), clients)
    return KnownClient(
        client_id=client_id,
        first_name=str(card.person.first_name),
        card_url=f"/clients/{client_id}",
        edit_url=f"/clients/{client_id}/edit",
    )


def _default_channel(options: Sequence[ChannelOption], preferred: str) -> str | None:
    if any(option.code == preferred for option in options):
        return preferred
    return options[0].code if options else None


def _form_page(
    request: Request[Any, Any, Any],
    values: RegistrationValues,
    options: Sequence[ChannelOption],
    *,
    errors: Mapping[str, str] | None = None,
    known: KnownClient | None = None,
    status_code: int = 200,
) -> Template:
    return render(
        request,
        "register.html",
        status_code=status_code,
        values=values,
        channels=options,
        errors=dict(errors or {}),
        known=known,
        title="Новый клиент",
        nav="new",
    )


@get("/")
async def new_client_form(
    request: Request[Any, Any, Any],
    registration: NamedDependency[RegistrationDeps],
    reference: NamedDependency[ReferenceDeps],
) -> Template:
    return await _empty_form(request, registration, reference, phone="")


@post("/", status_code=200)
async def new_client_form_with_phone(
    request: Request[Any, Any, Any],
    registration: NamedDependency[RegistrationDeps],
    reference: NamedDependency[ReferenceDeps],
) -> Template:
    """The form with a phone filled in (the search's «register with this number»), never in the URL."""
    return await _empty_form(
        request, registration, reference, phone=(await read_form(request)).text("phone")[:MAX_PHONE_INPUT]
    )


async def _empty_form(
    request: Request[Any, Any, Any], registration: RegistrationDeps, reference: ReferenceDeps, *, phone: str
) -> Template:
    options = channel_options(await list_channels(ListChannels(), reference))
    values = RegistrationValues(phone=phone, channel=_default_channel(options, registration.policy.default_channel))
    return _form_page(request, values, options)


def _form_field(error: DomainError) -> str:
    """The form field an error of UC04 belongs to (A1, A2, A5, A7); ``form`` for the rest (A3)."""
    if isinstance(error, ClientExists | PersonExists | InvalidPhone):
        return "phone"
    if isinstance(error, ChannelUnavailable | TemplateMissing):
        return "channel"
    if isinstance(error, ConsentRequired):
        return "consents"
    if isinstance(error, ValidationError) and error.field in ("first_name", "phone", "consents"):
        return error.field
    return "form"


async def _registration_error(
    error: DomainError, clients: ClientDeps
) -> tuple[dict[str, str], KnownClient | None, int]:
    """Where on the form an error goes, in Russian, and the status of the page: the API's for the error."""
    known = await known_client(error.client_id, clients) if isinstance(error, ClientExists) else None
    message = (
        "Этот телефон уже записан за человеком, который ещё не клиент"
        if isinstance(error, PersonExists)
        else error.message
    )
    return {_form_field(error): message}, known, domain_status(error)


@post("/registrations", status_code=303)
async def submit_registration(
    request: Request[Any, Any, Any],
    context: NamedDependency[Context],
    registration: NamedDependency[RegistrationDeps],
    reference: NamedDependency[ReferenceDeps],
    clients: NamedDependency[ClientDeps],
) -> Response[Any]:
    form = await read_form(request)
    options = channel_options(await list_channels(ListChannels(), reference))
    values = RegistrationValues.from_form(form, options)
    try:
        result = await counted_registration(
            register_client(
                RegisterClient(
                    phone=values.phone,
                    first_name=values.first_name,
                    context=context,
                    channel=values.channel,
                    consents=values.consents,
                    channel_accounts=values.accounts,
                    postpone_notification=values.postpone,
                ),
                registration,
            ),
            idempotent=lambda done: done.idempotent,
        )
    except (
        InvalidPhone,
        ClientExists,
        PersonExists,
        ChannelUnavailable,
        TemplateMissing,
        ConsentRequired,
        ValidationError,
        TemporaryError,
    ) as error:
        errors, known, status = await _registration_error(error, clients)
        return _form_page(request, values, options, errors=errors, known=known, status_code=status)
    query = {"notification": str(result.notification_id)} if result.notification_id is not None else {}
    if result.idempotent:
        query["repeat"] = "1"
    return Redirect(f"/registrations/{result.client_id}", query_params=query, status_code=303)


def _shown_notification(notifications: Sequence[NotificationView], wanted: int | None) -> NotificationView | None:
    """The registration's message, or what replaced it (a resend), or the newest one."""
    by_id = {notification.id: notification for notification in notifications}
    shown = by_id.get(wanted) if wanted is not None else None
    if shown is None:
        return notifications[0] if notifications else None
    seen: set[int] = set()
    while shown.superseded_by in by_id and shown.id not in seen:
        seen.add(shown.id)
        shown = by_id[shown.superseded_by]
    return shown


@get("/registrations/{client_id:int}")
async def registration_result(
    request: Request[Any, Any, Any],
    client_id: ClientId,
    reference: NamedDependency[ReferenceDeps],
    clients: NamedDependency[ClientDeps],
    notification: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
    repeat: FromQuery[bool] = False,
) -> Template:
    channels = await list_channels(ListChannels(), reference)
    card = await get_client_card(GetClientCard(client_id), clients)
    client = client_view(card, channel_titles(channels))
    return render(
        request,
        "registered.html",
        client=client,
        notification=_shown_notification(client.notifications, notification),
        repeat=repeat,
        channels=channel_options(channels),
        title="Клиент зарегистрирован",
        nav="new",
    )
