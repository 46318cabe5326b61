"""Clients: search by phone, the card (A1.1), and the update form (A1.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone, PersonExists, ValidationError
from barbershop_core.model import CONSENT_TYPES
from barbershop_core.use_cases.audit_trail import AuditDeps, ReadAuditTrail, read_audit_trail
from barbershop_core.use_cases.clients import (
    ClientDeps,
    FindByPhone,
    GetClientCard,
    UpdateClient,
    find_clients_by_phone,
    get_client_card,
    update_client,
)
from barbershop_core.use_cases.reference_data import ListChannels, ReferenceDeps, list_channels
from barbershop_core.use_cases.timeline import GetClientTimeline, client_timeline
from barbershop_core.values import PhoneNumber
from barbershop_entrypoints.http.controllers.audit import event_body
from barbershop_entrypoints.http.params import MAX_PHONE_INPUT, ClientId
from barbershop_entrypoints.http.web.forms import Form, read_form
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.views import (
    ChannelOption,
    ClientView,
    channel_options,
    channel_titles,
    client_view,
)

STEP_WORDS = {
    "scheduled": "в очереди",
    "held": "отложено",
    "sent": "отправлено",
    "delivered": "доставлено",
    "failed": "не доставлено",
    "retryable_failure": "попытка не удалась, будет повтор",
    "permanent_failure": "провайдер отказал",
}
"""The timeline's states in the manager's words."""


@get("/clients")
async def search_form(request: Request[Any, Any, Any]) -> Template:
    return _search_page(request)


@post("/clients", status_code=200)
async def search_clients(
    request: Request[Any, Any, Any], clients: NamedDependency[ClientDeps], reference: NamedDependency[ReferenceDeps]
) -> Template:
    """The search is a POST: the phone stays out of the URL, and so out of access logs and history."""
    phone = (await read_form(request)).text("phone")[:MAX_PHONE_INPUT]
    if not phone:
        return _search_page(request)
    try:
        normalised = PhoneNumber.parse(phone, clients.policy.default_region).e164
        cards = await find_clients_by_phone(FindByPhone(phone), clients)
    except InvalidPhone as invalid:
        return _search_page(request, phone=phone, error=invalid.message, status_code=422)
    titles = channel_titles(await list_channels(ListChannels(), reference))
    found = [client_view(card, titles) for card in cards]
    return _search_page(request, phone=phone, normalised=normalised, found=found)


def _search_page(
    request: Request[Any, Any, Any],
    *,
    phone: str = "",
    normalised: str | None = None,
    found: Sequence[ClientView] = (),
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    return render(
        request,
        "clients.html",
        status_code=status_code,
        phone=phone,
        normalised=normalised,
        found=found,
        error=error,
        title="Поиск клиента",
        nav="search",
    )


JOURNAL_SIZE: Final = 50
"""The card shows the newest events; ``GET /api/audit?client_id=`` pages through the rest."""


@get("/clients/{client_id:int}")
async def client_card_page(
    request: Request[Any, Any, Any],
    client_id: ClientId,
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
    reference: NamedDependency[ReferenceDeps],
    audit: NamedDependency[AuditDeps],
) -> Template:
    channels = await list_channels(ListChannels(), reference)
    card = await get_client_card(GetClientCard(client_id), clients)
    client = client_view(card, channel_titles(channels))
    timeline = await client_timeline(GetClientTimeline(client_id), clients)
    # «Журнал»: who registered the client, who saw their data, what was sent (the reading is audited).
    journal = await read_audit_trail(ReadAuditTrail(context, client_id=client_id, limit=JOURNAL_SIZE), audit)
    return render(
        request,
        "client.html",
        client=client,
        timeline=[
            attrs.evolve(step, channel=channel_titles(channels).get(step.channel, step.channel)) for step in timeline
        ],
        step_words=STEP_WORDS,
        journal=[event_body(event) for event in journal.events],
        channels=channel_options(channels),
        title=f"Клиент №{client.id}",
        nav="search",
    )


@attrs.frozen(kw_only=True)
class ClientValues:
    first_name: str
    phone: str
    email: str
    consents: Mapping[str, bool]
    accounts: Mapping[str, str]

    @classmethod
    def of(cls, client: ClientView) -> ClientValues:
        return cls(
            first_name=client.first_name,
            phone=client.phone,
            email=client.email or "",
            consents={str(kind.code): client.consents.get(kind.code, False) for kind in CONSENT_TYPES},
            accounts=dict(client.channel_accounts),
        )

    @classmethod
    def from_form(cls, form: Form, account_channels: Sequence[ChannelOption]) -> ClientValues:
        return cls(
            first_name=form.text("first_name"),
            phone=form.text("phone"),
            email=form.text("email"),
            consents={str(kind.code): form.checked(f"consent_{kind.code}") for kind in CONSENT_TYPES},
            accounts={option.code: form.text(f"account_{option.code}") for option in account_channels},
        )


def _edit_page(
    request: Request[Any, Any, Any],
    client: ClientView,
    values: ClientValues,
    account_channels: Sequence[ChannelOption],
    *,
    errors: Mapping[str, str] | None = None,
    other_client: int | None = None,
    status_code: int = 200,
) -> Template:
    return render(
        request,
        "client_edit.html",
        status_code=status_code,
        client=client,
        values=values,
        account_channels=account_channels,
        errors=dict(errors or {}),
        other_client=other_client,
        title=f"Изменить клиента №{client.id}",
        nav="search",
    )


def _account_channels(options: Sequence[ChannelOption]) -> list[ChannelOption]:
    return [option for option in options if option.needs_account]


@get("/clients/{client_id:int}/edit")
async def edit_client_page(
    request: Request[Any, Any, Any],
    client_id: ClientId,
    clients: NamedDependency[ClientDeps],
    reference: NamedDependency[ReferenceDeps],
) -> Template:
    channels = await list_channels(ListChannels(), reference)
    client = client_view(await get_client_card(GetClientCard(client_id), clients), channel_titles(channels))
    return _edit_page(request, client, ClientValues.of(client), _account_channels(channel_options(channels)))


@post("/clients/{client_id:int}/edit", status_code=303)
async def submit_client_edit(
    request: Request[Any, Any, Any],
    client_id: ClientId,
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
    reference: NamedDependency[ReferenceDeps],
) -> Response[Any]:
    channels = await list_channels(ListChannels(), reference)
    account_channels = _account_channels(channel_options(channels))
    client = client_view(await get_client_card(GetClientCard(client_id), clients), channel_titles(channels))
    values = ClientValues.from_form(await read_form(request), account_channels)
    shown = {option.code for option in account_channels}
    accounts = {code: value for code, value in client.channel_accounts.items() if code not in shown}
    accounts |= {code: value for code, value in values.accounts.items() if value}
    consents = {
        code: granted for code, granted in values.consents.items() if client.consents.get(code, False) != granted
    }
    try:
        await update_client(
            UpdateClient(
                client_id=client_id,
                context=context,
                first_name=values.first_name,
                phone=values.phone,
                email=values.email or None,
                consents=consents,
                channel_accounts=accounts if accounts != client.channel_accounts else None,
            ),
            clients,
        )
    except PersonExists as taken:
        errors = {"phone": "Этот телефон уже записан за другим человеком"}
        return _edit_page(
            request, client, values, account_channels, errors=errors, other_client=taken.client_id, status_code=409
        )
    except ValidationError as invalid:
        field = invalid.field if invalid.field in ("first_name", "phone", "email") else "form"
        return _edit_page(request, client, values, account_channels, errors={field: invalid.message}, status_code=422)
    return Redirect(f"/clients/{client_id}", query_params={"flash": "client_updated"}, status_code=303)
