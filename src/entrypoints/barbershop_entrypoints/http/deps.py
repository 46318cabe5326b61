"""Dependencies the controllers take: the container's bundles, the manager, the request context.

Everything comes from the one composition root (:mod:`barbershop_entrypoints.bootstrap`), which the
app's lifespan puts on ``app.state``; nothing here builds an adapter.

Each provider reads ``state`` or ``request`` (Litestar's reserved arguments), never another
dependency: Litestar resolves the dependencies of one level concurrently, each in a task of an
anyio task group (litestar-org/litestar#4563), and a second level of them cost a manager's
request a second group, ~60–70 µs of the loop's CPU for a few dictionary reads
(``docs/performance.md``).
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from barbershop_core.context import Context
from barbershop_core.model import Actor, Manager
from barbershop_core.use_cases.accounts import ManagerDeps, PartnerDeps
from barbershop_core.use_cases.audit_trail import AuditDeps
from barbershop_core.use_cases.client_accounts import ClientAccountDeps
from barbershop_core.use_cases.clients import ClientDeps
from barbershop_core.use_cases.delivery import DeliveryDeps
from barbershop_core.use_cases.delivery_reports import ReportDeps
from barbershop_core.use_cases.notification_commands import NotificationDeps
from barbershop_core.use_cases.notification_queries import NotificationQueryDeps
from barbershop_core.use_cases.promo import PromoDeps
from barbershop_core.use_cases.reference_data import ReferenceDeps
from barbershop_core.use_cases.registration import RegistrationDeps
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.settings import ChannelsConfig

CONTAINER: Final = "container"


def container_of(state: State) -> Container:
    container = state.get(CONTAINER)
    if not isinstance(container, Container):
        raise RuntimeError("the app's lifespan has not built the container")  # noqa: TRY004 -- a wiring bug, not input
    return container


def provide_container(state: State) -> Container:
    return container_of(state)


def provide_channel_settings(state: State) -> ChannelsConfig:
    """The providers' settings (the webhooks check each provider's signature with its own secret)."""
    return container_of(state).settings.channels


def provide_registration(state: State) -> RegistrationDeps:
    return container_of(state).registration()


def provide_notifications(state: State) -> NotificationDeps:
    return container_of(state).notifications()


def provide_notification_queries(state: State) -> NotificationQueryDeps:
    return container_of(state).notification_queries()


def provide_delivery(state: State) -> DeliveryDeps:
    return container_of(state).delivery()


def provide_promo(state: State) -> PromoDeps:
    return container_of(state).promo()


def provide_clients(state: State) -> ClientDeps:
    return container_of(state).clients()


def provide_client_accounts(state: State) -> ClientAccountDeps:
    return container_of(state).client_accounts()


def provide_managers(state: State) -> ManagerDeps:
    return container_of(state).managers()


def provide_partners(state: State) -> PartnerDeps:
    return container_of(state).partners()


def provide_audit(state: State) -> AuditDeps:
    return container_of(state).audit()


def provide_reference(state: State) -> ReferenceDeps:
    return container_of(state).reference()


def provide_reports(state: State) -> ReportDeps:
    return container_of(state).reports()


def provide_manager(request: Request[Any, Any, Any]) -> Manager:
    """The manager the route's JWT auth (API token or page session) authenticated."""
    manager = request.scope.get("user")
    if not isinstance(manager, Manager):
        raise RuntimeError("route needs the manager JWT auth")  # noqa: TRY004 -- a wiring bug, not input
    return manager


def provide_context(request: Request[Any, Any, Any]) -> Context:
    """Who asks (the logged-in manager) and the request id, for the use cases' audit."""
    return Context(Actor.manager(provide_manager(request).id), request_id_of(request.scope))


def provide_request_id(request: Request[Any, Any, Any]) -> str:
    return request_id_of(request.scope)


DEPENDENCIES: Final = {
    "container": Provide(provide_container, sync_to_thread=False),
    "channel_settings": Provide(provide_channel_settings, sync_to_thread=False),
    "registration": Provide(provide_registration, sync_to_thread=False),
    "notification_deps": Provide(provide_notifications, sync_to_thread=False),
    "notification_queries": Provide(provide_notification_queries, sync_to_thread=False),
    "delivery": Provide(provide_delivery, sync_to_thread=False),
    "promo": Provide(provide_promo, sync_to_thread=False),
    "clients": Provide(provide_clients, sync_to_thread=False),
    "client_accounts": Provide(provide_client_accounts, sync_to_thread=False),
    "managers": Provide(provide_managers, sync_to_thread=False),
    "partners": Provide(provide_partners, sync_to_thread=False),
    "audit": Provide(provide_audit, sync_to_thread=False),
    "reference": Provide(provide_reference, sync_to_thread=False),
    "report_deps": Provide(provide_reports, sync_to_thread=False),
    "manager": Provide(provide_manager, sync_to_thread=False),
    "context": Provide(provide_context, sync_to_thread=False),
    "request_id": Provide(provide_request_id, sync_to_thread=False),
}
