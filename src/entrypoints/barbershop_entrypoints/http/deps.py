"""Dependencies the controllers take: the container's bundles, the manager, the request context.

Everything comes from the one composition root (:mod:`barbershop_entrypoints.bootstrap`), which the
app's lifespan puts on ``app.state``; nothing here builds an adapter.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

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


def provide_channel_settings(container: NamedDependency[Container]) -> ChannelsConfig:
    """The providers' settings (the webhooks check each provider's signature with its own secret)."""
    return container.settings.channels


def provide_registration(container: NamedDependency[Container]) -> RegistrationDeps:
    return container.registration()


def provide_notifications(container: NamedDependency[Container]) -> NotificationDeps:
    return container.notifications()


def provide_notification_queries(container: NamedDependency[Container]) -> NotificationQueryDeps:
    return container.notification_queries()


def provide_delivery(container: NamedDependency[Container]) -> DeliveryDeps:
    return container.delivery()


def provide_promo(container: NamedDependency[Container]) -> PromoDeps:
    return container.promo()


def provide_clients(container: NamedDependency[Container]) -> ClientDeps:
    return container.clients()


def provide_client_accounts(container: NamedDependency[Container]) -> ClientAccountDeps:
    return container.client_accounts()


def provide_managers(container: NamedDependency[Container]) -> ManagerDeps:
    return container.managers()


def provide_partners(container: NamedDependency[Container]) -> PartnerDeps:
    return container.partners()


def provide_audit(container: NamedDependency[Container]) -> AuditDeps:
    return container.audit()


def provide_reference(container: NamedDependency[Container]) -> ReferenceDeps:
    return container.reference()


def provide_reports(container: NamedDependency[Container]) -> ReportDeps:
    return container.reports()


def provide_manager(request: Request[Any, Any, Any]) -> Manager:
    """The manager the route's JWT auth (API token or page session) authenticated."""
    manager = request.scope.get("user")
    if not isinstance(manager, Manager):
        raise RuntimeError("route needs the manager JWT auth")  # noqa: TRY004 -- a wiring bug, not input
    return manager


def provide_context(request: Request[Any, Any, Any], manager: NamedDependency[Manager]) -> Context:
    """Who asks (the logged-in manager) and the request id, for the use cases' audit."""
    return Context(Actor.manager(manager.id), request_id_of(request.scope))


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
