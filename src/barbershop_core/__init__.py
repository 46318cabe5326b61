"""barbershop-core: client registration of a barbershop chain, as a pure domain library.

It imports no framework, ORM, driver or broker: bring your own adapters for the ports
in :mod:`barbershop_core.ports`, or use the ones in the ``adapters`` package.
"""

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    DomainError,
    InvalidPhone,
    NotFound,
    PersonExists,
    TemplateMissing,
    TemporaryError,
    ValidationError,
)
from barbershop_core.model import Actor, NotificationStatus
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.use_cases.registration import (
    RegisterClient,
    RegistrationDeps,
    RegistrationResult,
    register_client,
)
from barbershop_core.values import Email, FirstName, Money, PhoneNumber

__all__ = [
    "Actor",
    "ChannelUnavailable",
    "ClientExists",
    "ConsentRequired",
    "Context",
    "DomainError",
    "Email",
    "FirstName",
    "InvalidPhone",
    "Money",
    "NotFound",
    "NotificationStatus",
    "PersonExists",
    "PhoneNumber",
    "PromoPolicy",
    "RegisterClient",
    "RegistrationDeps",
    "RegistrationPolicy",
    "RegistrationResult",
    "RetryPolicy",
    "TemplateMissing",
    "TemporaryError",
    "ValidationError",
    "register_client",
]
