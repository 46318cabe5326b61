"""The page's session cookie, its CSRF protection, and the middleware that checks it.

**Session.** After ``POST /login`` the browser holds ``barbershop_session``: a JWT of the
``manager-page`` use of Litestar's JWT auth (:data:`MANAGER_PAGE`, see
:mod:`barbershop_entrypoints.http.jwt_auth`; the API's bearer token is another use, so
neither is accepted as the other), checked by the use's middleware on the page routers.
HttpOnly, SameSite=Lax, Path=/, Max-Age = the token lifetime; ``Secure``
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
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, Literal

import attrs
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType, ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from barbershop_adapters.key_derivation import derive_key
from barbershop_core.model import Manager
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.jwt_auth import MANAGERS, Audience, session_auth
from barbershop_entrypoints.http.problems import ApiProblem

SESSION_COOKIE: Final = "barbershop_session"
CSRF_COOKIE: Final = "barbershop_csrf"
CSRF_FIELD: Final = "_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"

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


MANAGER_PAGE: Final = Audience[Manager](
    name="manager-page",
    subjects=MANAGERS,
    refuse=lambda _: LoginRequired(),
    temporary_password=PasswordChangeNeeded,
)
"""The manager page's session cookie."""


@attrs.frozen
class SessionScheme:
    """One kind of page session: its cookies, its token's use, and where it applies.

    The manager's pages use :data:`MANAGER_PAGES`; the client's (``/client``) their own scheme,
    so neither session nor CSRF token of one is ever accepted by the other.
    """

    session_cookie: str
    csrf_cookie: str
    audience: Audience[Any]
    """The use of Litestar's JWT auth the session cookie holds a token of."""
    path: str
    """The cookies' ``Path``."""
    csrf_label: str
    """Derives this scheme's CSRF key from the token key."""


MANAGER_PAGES: Final = SessionScheme(SESSION_COOKIE, CSRF_COOKIE, MANAGER_PAGE, "/", "web-csrf")


@attrs.frozen
class WebKeys:
    """What the page's CSRF tokens are signed with, derived once from the container's token key."""

    csrf_key: bytes = attrs.field(repr=False)
    secure: bool | None
    """None: decide per request (Secure over https)."""

    @classmethod
    def from_container(cls, container: Container, scheme: SessionScheme = MANAGER_PAGES) -> WebKeys:
        return cls(
            csrf_key=derive_key(container.token_key, scheme.csrf_label),
            secure=container.settings.web.cookie_secure,
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
    keys = every.get(scheme.csrf_label)
    if keys is None:
        keys = every[scheme.csrf_label] = WebKeys.from_container(container_of(state), scheme)
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
    auth = session_auth(connection.app.state, scheme.audience)
    issued = auth.issue(subject_id, session_version, container_of(connection.app.state).clock.now())
    lifetime = int(auth.ttl / timedelta(seconds=1))
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


def csrf_middleware(scheme: SessionScheme) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware of a page router: an unsafe method needs the CSRF token of ``scheme``'s session.

    Outside the session's middleware, so a stale or forged form is refused (403) whether or not
    a session comes with it, as a guard running first would.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                # The body read here is kept on the scope: the handler reads the same form.
                await check_csrf(Request(scope, receive, send), scheme)
            await app(scope, receive, send)

        return checked

    return middleware


def current_manager(connection: Connection) -> Manager | None:
    """The manager whose page session this request carries (None on a public page)."""
    manager = connection.scope.get("user")
    return manager if isinstance(manager, Manager) else None


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never ``//host`` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch.isspace() or not ch.isprintable() for ch in target) or len(target) > 500:
        return "/"
    return target
