"""How the pages answer errors: a redirect to log in, or a Russian HTML page.

The status and the Russian text come from the API's one mapping (:func:`problem_for`), so a
page and the JSON API never disagree about what an error means; a server error is logged
by the API's handler (masked phones, the request id) and shown without internals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect, Template

from barbershop_entrypoints.http.problems import handle_exception, problem_for
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.security import (
    SESSION_COOKIE,
    LoginRequired,
    PasswordChangeNeeded,
    end_session,
    safe_next,
)


def _login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    # Back to the same page after logging in, without its query: a search's phone would
    # otherwise travel (encoded twice, past the log's phone mask) in the login URL.
    target = request.url.path
    wants_return = request.method == "GET" and safe_next(target) not in ("/", "/login")
    cookies = end_session(request) if request.cookies.get(SESSION_COOKIE) else []
    return Redirect("/login", query_params={"next": target} if wants_return else None, status_code=303, cookies=cookies)


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Exception handler of the page routes."""
    if isinstance(exc, LoginRequired):
        return _login_redirect(request)
    if isinstance(exc, PasswordChangeNeeded):
        return Redirect("/password", status_code=303)
    return problem_page(request, exc)


def problem_page(request: Request[Any, Any, Any], exc: Exception, page: Callable[..., Template] = render) -> Template:
    """The error as a Russian page (``page`` renders it in its site's frame): the API's problem."""
    problem = problem_for(exc)
    if problem.status >= 500:
        handle_exception(request, exc)  # logs it exactly as the API does; its JSON body is not used
    return page(
        request,
        "error.html",
        status_code=problem.status,
        title=problem.title,
        detail=problem.detail,
        request_id=request_id_of(request.scope),
    )
