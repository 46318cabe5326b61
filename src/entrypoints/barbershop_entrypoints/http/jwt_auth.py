"""Manager and client sessions on Litestar's JWT auth (``litestar.security.jwt``), one audience per use.

Four uses (:class:`Audience`), each with its own ``aud`` claim and its own HS256 key derived from
the installation's token key (``BARBERSHOP_KEY_VERSION_TOKENS`` rotates them all): the manager
API's bearer token, the manager page's session cookie, the client API's bearer token and the
client page's session cookie. A token of one use is never accepted by another.

A token carries ``ver``, its subject's session version when it was issued. Each use's router
carries the use's authentication middleware (:meth:`SessionAuth.middleware`), which

1. reads the token (``Authorization: Bearer …`` for the APIs, the session cookie alone for the
   pages); a missing, oversized or non-ASCII one is refused before any decoding;
2. lets Litestar decode it: the signature (HS256 only, so ``alg: none`` and every other
   algorithm are refused), the audience (exactly this use's), the required claims;
3. ``retrieve_user_handler``: checks the expiry against the installation's clock (the
   :class:`~barbershop_core.ports.Clock` port, not the wall clock) and reads the subject;
4. ``revoked_token_handler``: refuses the token once ``ver`` is not the subject's current
   session version (logout, password change, ``barbershop manager deactivate``).

Every refusal is answered in the use's own words (:attr:`Audience.refuse`: a problem document
for the APIs, a redirect to the login page for the pages), never with Litestar's default 401
body. A subject with a temporary password reaches only the routes flagged
``allow_temporary_password`` (:meth:`Audience.permanent_password_guard`).
"""

from __future__ import annotations

import enum
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar, cast

import attrs
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import ImproperlyConfiguredException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import (
    BaseJWTAuth,
    JWTAuth,
    JWTAuthenticationMiddleware,
    JWTCookieAuth,
    JWTCookieAuthenticationMiddleware,
    Token,
)
from litestar.security.jwt.token import JWTDecodeOptions
from litestar.types import Receive, Scope, Send

from barbershop_adapters.key_derivation import derive_key
from barbershop_core.model import Manager
from barbershop_core.use_cases.client_accounts import ClientAccount
from barbershop_core.use_cases.sessions import (
    SessionDeps,
    SignedInClient,
    SignedInManager,
    signed_in_client,
    signed_in_manager,
)
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.problems import ApiProblem

ALGORITHM: Final = "HS256"
MAX_TOKEN_LENGTH: Final = 512
"""A token this server issues is about 250 characters; a longer one is not decoded at all."""
ALLOW_TEMPORARY_PASSWORD: Final = "allow_temporary_password"  # noqa: S105 -- a route option, not a secret
"""Route ``opt`` flag: reachable by a subject who has not changed the temporary password yet."""
SESSIONS: Final = "barbershop_sessions"
"""The ``app.state`` key of the configured uses (:func:`session_auth`)."""
_SUBJECT: Final = "barbershop_session_subject"

Connection = ASGIConnection[Any, Any, Any, Any]
S = TypeVar("S")


class Refusal(enum.Enum):
    NO_TOKEN = "no_token"  # noqa: S105 -- a kind of refusal, not a secret
    INVALID = "invalid"
    """Malformed, forged, for another use, signed with a rotated key, or expired."""
    UNAVAILABLE = "unavailable"
    """Its subject is gone or deactivated."""
    ENDED = "ended"
    """Its session version is no longer the subject's current one."""


def _whole_utc_seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


@dataclass
class SessionToken(Token):
    """Litestar's token with the session version; ``sub`` is the manager's or client's id."""

    ver: int = -1
    """The subject's session version when the token was issued (a required claim)."""

    def __post_init__(self) -> None:
        # Litestar's Token compares exp and iat with the wall clock here. Time in this project is
        # the Clock port's (the tests move it), so the retrieve handler checks the expiry instead.
        if not self.sub:
            raise ImproperlyConfiguredException("sub must be a non-empty string")
        self.exp, self.iat = _whole_utc_seconds(self.exp), _whole_utc_seconds(self.iat)

    @classmethod
    def decode_payload(
        cls,
        encoded_token: str,
        secret: str,
        algorithms: list[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        options: JWTDecodeOptions | None = None,
    ) -> Any:
        # PyJWT checks exp and iat against the wall clock (an iat "in the future" of a moved test
        # clock is refused): off here, for the same reason as in __post_init__.
        clockless = cast("JWTDecodeOptions", {**(options or {}), "verify_exp": False, "verify_iat": False})
        key = (encoded_token, secret, tuple(algorithms), _frozen(issuer), _frozen(audience), _frozen(clockless))
        claims = _VERIFIED.get(key)
        if claims is None:
            payload = super().decode_payload(encoded_token, secret, algorithms, issuer, audience, clockless)
            claims = MappingProxyType(payload)
            _VERIFIED[key] = claims
            if len(_VERIFIED) > VERIFIED_TOKENS:
                _VERIFIED.popitem(last=False)
        else:
            _VERIFIED.move_to_end(key)
        # The caller sets and pops top-level claims of what it gets, and moves claims it does
        # not know into ``extras``, a dict of the payload: containers are copied too.
        return {name: _copied(value) for name, value in claims.items()}

    @property
    def subject_id(self) -> int | None:
        """The id ``sub`` names; None when it is not a number this server would issue."""
        sub = self.sub
        return int(sub) if sub.isascii() and sub.isdecimal() and len(sub) <= 18 else None


VERIFIED_TOKENS: Final = 4096
"""How many verified tokens a process remembers (``_VERIFIED``)."""


_VERIFIED: Final[OrderedDict[tuple[Any, ...], Mapping[str, Any]]] = OrderedDict()
"""The claims of tokens whose signature, algorithm, audience and required claims held, the
most recently used last.

A signed-in manager or client sends the same token with every request; checking its HMAC
and decoding its JSON again each time was a sixth of an authenticated request's CPU. What
is remembered depends on nothing but the token, the key and the checks asked for — the
expiry is checked by the caller on every request (the wall clock is off here, see
``SessionToken.decode_payload``), and the session version against the store — so a
remembered answer is the answer a new check would give. A refused token raises and is not
remembered."""


def _copied(value: Any) -> Any:
    """A copy of a claim's value deep enough that changing it leaves the remembered one alone."""
    if isinstance(value, dict):
        return {name: _copied(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def _frozen(value: Any) -> Any:
    """``value`` as part of a key: JSON-like values, dicts as sorted item tuples, lists as tuples."""
    if isinstance(value, Mapping):
        return tuple(sorted((name, _frozen(item)) for name, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


@attrs.frozen
class Subjects(Generic[S]):
    """Whom a use's tokens name, and how a token's session is judged against it."""

    read: Callable[[SessionDeps, int], Awaitable[S | None]]
    """The subject by id, in one statement without a transaction; None when it is gone or deactivated."""
    session_version: Callable[[S], int]
    must_change_password: Callable[[S], bool]


MANAGERS: Final = Subjects[Manager](
    read=lambda sessions, manager_id: signed_in_manager(SignedInManager(manager_id), sessions),
    session_version=lambda manager: manager.session_version,
    must_change_password=lambda manager: manager.must_change_password,
)
CLIENTS: Final = Subjects[ClientAccount](
    read=lambda sessions, client_id: signed_in_client(SignedInClient(client_id), sessions),
    session_version=lambda account: account.person.session_version,
    must_change_password=lambda account: account.must_change_password,
)


@attrs.frozen
class Audience(Generic[S]):
    """One use of a token: its ``aud`` claim, whom it names, and how it answers a refusal."""

    name: str
    subjects: Subjects[S]
    refuse: Callable[[Refusal], ApiProblem]
    temporary_password: Callable[[], Exception]
    """The answer on a route not flagged ``allow_temporary_password`` while the password is temporary."""

    async def permanent_password_guard(self, connection: Connection, handler: BaseRouteHandler) -> None:
        """Guard: with a temporary password only the routes flagged ``allow_temporary_password`` answer.

        A coroutine: Litestar runs a plain function guard in a worker thread, a hop per request."""
        if self.subjects.must_change_password(connection.user) and not handler.opt.get(ALLOW_TEMPORARY_PASSWORD):
            raise self.temporary_password()


# --- the middleware ---------------------------------------------------------------------------


async def _authenticate(
    middleware: JWTAuthenticationMiddleware, audience: Audience[Any], encoded: str | None, connection: Connection
) -> AuthenticationResult:
    if not encoded:
        raise audience.refuse(Refusal.NO_TOKEN)
    if len(encoded) > MAX_TOKEN_LENGTH or not encoded.isascii():
        raise audience.refuse(Refusal.INVALID)
    try:
        return await middleware.authenticate_token(encoded, connection)
    except NotAuthorizedException:  # Litestar's refusal of a token it could not decode or verify
        raise audience.refuse(Refusal.INVALID) from None


def bearer_token(connection: Connection) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


class BearerMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware reading ``Authorization: Bearer`` only, answering as its use."""

    def __init__(self, *, audience: Audience[Any], **options: Any) -> None:
        super().__init__(**options)
        self.audience = audience

    async def authenticate_request(self, connection: Connection) -> AuthenticationResult:
        return await _authenticate(self, self.audience, bearer_token(connection), connection)


class CookieMiddleware(JWTCookieAuthenticationMiddleware):
    """Litestar's JWT cookie middleware reading the session cookie only (never a header)."""

    def __init__(self, *, audience: Audience[Any], **options: Any) -> None:
        super().__init__(**options)
        self.audience = audience

    async def authenticate_request(self, connection: Connection) -> AuthenticationResult:
        return await _authenticate(self, self.audience, connection.cookies.get(self.auth_cookie_key), connection)


async def _retrieve_subject(audience: Audience[S], token: SessionToken, connection: Connection) -> S:
    """``retrieve_user_handler``: the subject of an unexpired token (one read)."""
    container = container_of(connection.app.state)
    subject_id = token.subject_id
    if subject_id is None or token.exp <= container.clock.now():
        raise audience.refuse(Refusal.INVALID)
    subject = await audience.subjects.read(container.session_deps(), subject_id)
    if subject is None:
        raise audience.refuse(Refusal.UNAVAILABLE)
    connection.scope.setdefault("state", {})[_SUBJECT] = subject
    return subject


async def _refuse_ended_session(audience: Audience[Any], token: SessionToken, connection: Connection) -> bool:
    """``revoked_token_handler``: the token's session version must be the subject's current one.

    It raises the use's own answer rather than returning True, which Litestar would answer
    with its default 401 body. The subject is the one the retrieve handler just read.
    """
    subject = connection.scope.get("state", {}).get(_SUBJECT)
    if subject is None or token.ver != audience.subjects.session_version(subject):
        raise audience.refuse(Refusal.ENDED)
    return False


# --- a configured use -----------------------------------------------------------------------------


@attrs.frozen
class IssuedToken:
    token: str
    expires_at: datetime
    expires_in: int
    """The token's lifetime in whole seconds (the use's ``ttl``), as OAuth's ``expires_in`` says it."""


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a session check outside a route has nothing to call on")


def _standalone(defined: DefineMiddleware) -> JWTAuthenticationMiddleware:
    middleware = defined.middleware(*defined.args, app=_nothing, **defined.kwargs)
    assert isinstance(middleware, JWTAuthenticationMiddleware)
    return middleware


@attrs.frozen
class SessionAuth(Generic[S]):
    """One use, configured with this installation's key for it and the token lifetime."""

    audience: Audience[S]
    config: BaseJWTAuth[S, SessionToken]
    ttl: timedelta
    _checker: JWTAuthenticationMiddleware = attrs.field(
        init=False, default=attrs.Factory(lambda auth: _standalone(auth.middleware), takes_self=True)
    )
    """The use's middleware on its own, for :meth:`signed_in`."""

    @property
    def middleware(self) -> DefineMiddleware:
        """The router's authentication middleware of this use: Litestar's, told the use's answers."""
        defined = self.config.middleware
        return DefineMiddleware(defined.middleware, *defined.args, audience=self.audience, **defined.kwargs)

    @property
    def guards(self) -> list[Callable[[Connection, BaseRouteHandler], Awaitable[None]]]:
        return [self.audience.permanent_password_guard]

    def issue(self, subject_id: int, session_version: int, now: datetime) -> IssuedToken:
        expires_at = now + self.ttl
        token = SessionToken(sub=str(subject_id), exp=expires_at, iat=now, aud=self.audience.name, ver=session_version)
        encoded = token.encode(self.config.token_secret, self.config.algorithm)
        return IssuedToken(encoded, expires_at, int(self.ttl.total_seconds()))

    async def signed_in(self, connection: Connection) -> S | None:
        """The subject of a current session this request carries, or None (a public page asks).

        The same checks as the middleware's, by an instance of it that calls on to nothing.
        """
        try:
            result = await self._checker.authenticate_request(connection)
        except ApiProblem:
            return None
        return cast("S", result.user)


def _secret(token_key: bytes, audience: Audience[Any]) -> str:
    return derive_key(token_key, f"jwt:{audience.name}").hex()


def _options(audience: Audience[Any], token_key: bytes) -> dict[str, Any]:
    return {
        "token_secret": _secret(token_key, audience),
        "retrieve_user_handler": functools.partial(_retrieve_subject, audience),
        "revoked_token_handler": functools.partial(_refuse_ended_session, audience),
        "algorithm": ALGORITHM,
        "token_cls": SessionToken,
        "accepted_audiences": [audience.name],
        "strict_audience": True,
        "require_claims": ["exp", "iat", "sub", "aud", "ver"],
        "verify_expiry": False,  # against the Clock port, in the retrieve handler
        "exclude_http_methods": [],  # every method of the router's routes, as a guard would
    }


def bearer_auth(audience: Audience[S], token_key: bytes, ttl: timedelta) -> SessionAuth[S]:
    """A use whose token travels as ``Authorization: Bearer <token>``."""
    config = JWTAuth[S, SessionToken](authentication_middleware_class=BearerMiddleware, **_options(audience, token_key))
    return SessionAuth(audience, config, ttl)


def cookie_auth(audience: Audience[S], token_key: bytes, ttl: timedelta, *, cookie: str, path: str) -> SessionAuth[S]:
    """A use whose token travels as the HttpOnly session cookie ``cookie`` (set by the page's login)."""
    config = JWTCookieAuth[S, SessionToken](
        key=cookie, path=path, authentication_middleware_class=CookieMiddleware, **_options(audience, token_key)
    )
    return SessionAuth(audience, config, ttl)


def session_auth(state: State, audience: Audience[S]) -> SessionAuth[S]:
    """The configured use of ``audience`` (``create_app`` puts them all on ``app.state``)."""
    configured: Mapping[str, SessionAuth[Any]] = state.get(SESSIONS, {})
    found = configured.get(audience.name)
    if found is None:
        raise RuntimeError(f"create_app has not configured the {audience.name!r} sessions")
    return cast("SessionAuth[S]", found)
