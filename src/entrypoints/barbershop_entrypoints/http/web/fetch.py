"""The two small JSON endpoints the page's script calls (session cookie + CSRF header).

``POST /web/phone-check``: the phone as it is typed (step 3: normalised E.164, known or not,
A1 with the card and the update links, A2). ``GET /web/notifications/{id}``: the status the
result page polls (scheduled → sent → delivered / failed, held). Errors are the API's
problem documents; a missing or expired session is 401, so the script can say «войдите снова».
"""

from __future__ import annotations

from typing import Annotated, Literal

import attrs
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone
from barbershop_core.use_cases.clients import CheckPhone, ClientDeps, check_phone
from barbershop_core.use_cases.notification_queries import GetNotification, NotificationQueryDeps, get_notification
from barbershop_core.use_cases.reference_data import ListChannels, ReferenceDeps, list_channels
from barbershop_entrypoints.http.body_dto import JsonBody
from barbershop_entrypoints.http.params import MAX_PHONE_INPUT, NotificationId
from barbershop_entrypoints.http.schemas import BodyStruct
from barbershop_entrypoints.http.web.registration_pages import known_client
from barbershop_entrypoints.http.web.views import NotificationView, channel_titles, notification_view


class PhoneCheckIn(BodyStruct):
    phone: Annotated[str, Meta(max_length=MAX_PHONE_INPUT)]
    """Empty while nothing is typed yet: the answer is ``empty``, not an error."""


@attrs.frozen(kw_only=True)
class PhoneCheckOut:
    state: Literal["empty", "invalid", "new", "client", "person"]
    message: str
    phone: str | None = None
    """Normalised to E.164."""
    client_id: int | None = None
    first_name: str | None = None
    card_url: str | None = None
    edit_url: str | None = None


@post("/phone-check", status_code=200, dto=JsonBody, return_dto=None)
async def phone_check(
    data: JSONBody[PhoneCheckIn],
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
) -> PhoneCheckOut:
    if not data.phone.strip():
        return PhoneCheckOut(state="empty", message="")
    try:
        checked = await check_phone(CheckPhone(data.phone, context), clients)
    except InvalidPhone as invalid:
        return PhoneCheckOut(state="invalid", message=invalid.message)
    if not checked.exists:
        return PhoneCheckOut(state="new", message="Новый номер — можно регистрировать", phone=checked.phone)
    if checked.client_id is None:
        return PhoneCheckOut(
            state="person", message="Этот телефон уже записан за человеком, который ещё не клиент", phone=checked.phone
        )
    known = await known_client(checked.client_id, clients)
    return PhoneCheckOut(
        state="client",
        message="Клиент уже существует",
        phone=checked.phone,
        client_id=known.client_id,
        first_name=known.first_name,
        card_url=known.card_url,
        edit_url=known.edit_url,
    )


@get("/notifications/{notification_id:int}")
async def notification_state(
    notification_id: NotificationId,
    notification_queries: NamedDependency[NotificationQueryDeps],
    reference: NamedDependency[ReferenceDeps],
) -> NotificationView:
    notification = await get_notification(GetNotification(notification_id), notification_queries)
    titles = channel_titles(await list_channels(ListChannels(), reference))
    return notification_view(notification, titles)
