"""The page's session cookie, its CSRF protection, and the guards that check both.

**Session.** After ``POST /login`` the browser holds ``barbershop_session``: a manager token
signed like the API's bearer token but for the purpose ``session`` (so neither is accepted
as the other). HttpOnly, SameSite=Lax, Path=/, Max-Age = the token lifetime; ``Secure``
when the request came over https (``BARBERSHOP_COOKIE_SECURE=auto``, the default — behind
a TLS proxy that sets ``X-Forwarded-Proto``), or always/never (``true`` / ``false``).
The JSON API does not read this cookie: it stays bearer-only and so needs no CSRF token.

**CSRF** (signed double-submit, bound to the session): ``barbershop_csrf`` holds
``<nonce>.<HMAC(nonce, session cookie)>``; every page carries the same value in its forms
(``_csrf``) and in ``<meta name="csrf-token">`` for ``fetch`` (``X-CSRF-Token``). A request
with an unsafe method passes only when the submitted value equals the cookie *and* the
cookie's HMAC matches the session the request carries. A cross-site page can neither read
the cookie nor mint a value for the victim's session, and a login or logout rotates it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, Literal

import attrs
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler

from barbershop_adapters.key_derivation import derive_key
from barbershop_core.errors import NotFound
from barbershop_core.model import Manager
from barbershop_core.use_cases.accounts import GetManager, get_manager
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.auth import ALLOW_TEMPORARY_PASSWORD
from barbershop_entrypoints.http.deps import MANAGER, container_of
from barbershop_entrypoints.http.problems import ApiProblem
from barbershop_entrypoints.http.tokens import InvalidToken, IssuedToken, TokenSigner

SESSION_COOKIE: Final = "barbershop_session"
CSRF_COOKIE: Final = "barbershop_csrf"
CSRF_FIELD: Final = "_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_PURPOSE: Final = "session"
COOKIE_SECURE_VARIABLE: Final = "BARBERSHOP_COOKIE_SECURE"

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_CSRF_LENGTH: Final = 200
_WEB_KEYS: Final = "web_keys"

Connection = ASGIConnection[Any, Any, Any, Any]


class LoginRequired(ApiProblem):
    """No session, or it expired: a page redirects to ``/login``, a fetch answers 401."""

    def __init__(self) -> None:
        super().__init__(401, "unauthorized", "Требуется вход", "Сессия истекла или вы не вошли — войдите снова")


class PasswordChangeNeeded(ApiProblem):
    """The manager still has a temporary password: only the change-password page is open."""

    def __init__(self) -> None:
        super().__init__(
            403, "password_change_required", "Смените временный пароль", "Сначала задайте постоянный пароль"
        )


class CsrfRejected(ApiProblem):
    """A state-changing request without the page's CSRF token (or with a stale one)."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "csrf_failed",
            "Форма устарела",
            "Форма устарела или отправлена не с этой страницы. Обновите страницу и повторите действие",
        )


def cookie_secure_mode(environ: Mapping[str, str]) -> bool | None:
    """``BARBERSHOP_COOKIE_SECURE``: ``true`` / ``false``, or ``auto`` (None: Secure over https)."""
    raw = environ.get(COOKIE_SECURE_VARIABLE, "").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    return None


@attrs.frozen
class SessionScheme:
    """One kind of page session: its cookies, what its token is signed for, and where it applies.

    The manager's pages use :data:`MANAGER_PAGES`; the client's (``/client``) their own scheme,
    so neither session nor CSRF token of one is ever accepted by the other.
    """

    session_cookie: str
    csrf_cookie: str
    purpose: str
    """The token signer's purpose label."""
    path: str
    """The cookies' ``Path``."""
    csrf_label: str
    """Derives this scheme's CSRF key from the token key."""


MANAGER_PAGES: Final = SessionScheme(SESSION_COOKIE, CSRF_COOKIE, SESSION_PURPOSE, "/", "web-csrf")


@attrs.frozen
class WebKeys:
    """What the page signs with, derived once from the container's token key."""

    session: TokenSigner
    csrf_key: bytes = attrs.field(repr=False)
    secure: bool | None
    """None: decide per request (Secure over https)."""

    @classmethod
    def from_container(cls, container: Container, scheme: SessionScheme = MANAGER_PAGES) -> WebKeys:
        return cls(
            session=TokenSigner(
                container.token_key, container.settings.token_ttl, container.clock, purpose=scheme.purpose
            ),
            csrf_key=derive_key(container.token_key, scheme.csrf_label),
            secure=cookie_secure_mode(container.settings.environ),
        )

    def new_csrf(self, session: str) -> str:
        nonce = secrets.token_urlsafe(32)
        return f"{nonce}.{self._csrf_mac(nonce, session)}"

    def csrf_valid(self, token: str, session: str) -> bool:
        """Well formed, minted by this server, and for this session."""
        if len(token) > _MAX_CSRF_LENGTH or not token.isascii() or token.count(".") != 1:
            return False
        nonce, mac = token.split(".")
        return hmac.compare_digest(mac.encode(), self._csrf_mac(nonce, session).encode())

    def _csrf_mac(self, nonce: str, session: str) -> str:
        digest = hmac.new(self.csrf_key, f"{nonce}|{session}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def web_keys(state: State, scheme: SessionScheme = MANAGER_PAGES) -> WebKeys:
    every: dict[str, WebKeys] = state.setdefault(_WEB_KEYS, {})
    keys = every.get(scheme.purpose)
    if keys is None:
        keys = every[scheme.purpose] = WebKeys.from_container(container_of(state), scheme)
    return keys


def _secure(connection: Connection, keys: WebKeys) -> bool:
    return keys.secure if keys.secure is not None else connection.url.scheme == "https"


def _cookie(
    connection: Connection, keys: WebKeys, name: str, value: str, *, max_age: int | None, path: str = "/"
) -> Cookie:
    samesite: Literal["lax"] = "lax"
    return Cookie(
        key=name,
        value=value,
        path=path,
        max_age=max_age,
        httponly=True,
        samesite=samesite,
        secure=_secure(connection, keys),
    )


def session_of(connection: Connection, scheme: SessionScheme = MANAGER_PAGES) -> str:
    """The raw session cookie this request carries ('' without one)."""
    return connection.cookies.get(scheme.session_cookie, "")


def csrf_token_for(connection: Connection, scheme: SessionScheme = MANAGER_PAGES) -> tuple[str, list[Cookie]]:
    """The token a page rendered for this request carries, and the cookie to set when it is new."""
    keys = web_keys(connection.app.state, scheme)
    session = session_of(connection, scheme)
    current = connection.cookies.get(scheme.csrf_cookie)
    if current and keys.csrf_valid(current, session):
        return current, []
    token = keys.new_csrf(session)
    return token, [_cookie(connection, keys, scheme.csrf_cookie, token, max_age=None, path=scheme.path)]


def start_session(connection: Connection, manager: Manager) -> list[Cookie]:
    """Cookies of a manager's fresh login: the session, and a CSRF token bound to it."""
    return start_scheme_session(connection, MANAGER_PAGES, manager.id, manager.session_version)


def start_scheme_session(
    connection: Connection, scheme: SessionScheme, subject_id: int, session_version: int
) -> list[Cookie]:
    """Cookies of a fresh login under ``scheme``: the session, and a CSRF token bound to it."""
    keys = web_keys(connection.app.state, scheme)
    issued: IssuedToken = keys.session.issue(subject_id, session_version)
    lifetime = int(keys.session.ttl / timedelta(seconds=1))
    return [
        _cookie(connection, keys, scheme.session_cookie, issued.token, max_age=lifetime, path=scheme.path),
        _cookie(connection, keys, scheme.csrf_cookie, keys.new_csrf(issued.token), max_age=None, path=scheme.path),
    ]


def end_session(connection: Connection, scheme: SessionScheme = MANAGER_PAGES) -> list[Cookie]:
    """Cookies of a logout: the session expires now, and the CSRF token is rotated."""
    keys = web_keys(connection.app.state, scheme)
    return [
        _cookie(connection, keys, scheme.session_cookie, "", max_age=0, path=scheme.path),
        _cookie(connection, keys, scheme.csrf_cookie, keys.new_csrf(""), max_age=None, path=scheme.path),
    ]


async def _submitted_csrf(connection: Connection) -> str | None:
    header = connection.headers.get(CSRF_HEADER.lower())
    if header:
        return header
    if not isinstance(connection, Request):
        return None
    media_type, _ = connection.content_type
    if media_type not in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
        return None
    # The parsed form is cached on the connection: the handler reads the same one.
    value = (await connection.form()).get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def check_csrf(connection: Connection, scheme: SessionScheme) -> None:
    """An unsafe method needs the CSRF token of ``scheme``'s session."""
    if connection.scope.get("method", "GET") in _SAFE_METHODS:
        return
    keys = web_keys(connection.app.state, scheme)
    cookie = connection.cookies.get(scheme.csrf_cookie)
    submitted = await _submitted_csrf(connection)
    if (
        not cookie
        or not submitted
        or not hmac.compare_digest(cookie.encode(), submitted.encode())
        or not keys.csrf_valid(cookie, session_of(connection, scheme))
    ):
        raise CsrfRejected()


async def require_csrf(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard of every manager page route: an unsafe method needs the page's CSRF token."""
    await check_csrf(connection, MANAGER_PAGES)


async def require_session_manager(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard of the manager's pages: a valid session of an active manager.

    Until a temporary password is changed only routes with the ``allow_temporary_password``
    option (the change-password page, logout) are open.
    """
    token = session_of(connection)
    if not token:
        raise LoginRequired()
    keys = web_keys(connection.app.state)
    try:
        claims = keys.session.verify(token)
    except InvalidToken:
        raise LoginRequired() from None
    try:
        manager = await get_manager(GetManager(claims.manager_id), container_of(connection.app.state).managers())
    except NotFound:
        raise LoginRequired() from None
    if claims.session_version != manager.session_version:
        raise LoginRequired()
    if manager.must_change_password and not handler.opt.get(ALLOW_TEMPORARY_PASSWORD):
        raise PasswordChangeNeeded()
    connection.state[MANAGER] = manager


def current_manager(connection: Connection) -> Manager | None:
    manager = connection.state.get(MANAGER)
    return manager if isinstance(manager, Manager) else None


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch.isspace() or not ch.isprintable() for ch in target) or len(target) > 500:
        return "/"
    return target
