"""``GET /metrics``: Prometheus text exposition, for the operator's scraper only.

Not part of the JSON API (left out of the OpenAPI document): it answers only with
``Authorization: Bearer <BARBERSHOP_METRICS_TOKEN>``, and is 404 when no token is configured.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from barbershop_adapters.sqlalchemy.backlog import notification_backlog
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.problems import ApiProblem
from barbershop_entrypoints.metrics import CONTENT_TYPE, authorized, exposition


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    container = container_of(request.app.state)
    token = container.settings.web.metrics_token
    if not token:
        raise ApiProblem(404, "not_found", "Не найдено")
    if not authorized(request.headers.get("authorization"), token):
        raise ApiProblem(401, "unauthorized", "Нужен токен метрик", headers={"WWW-Authenticate": "Bearer"})
    now = container.clock.now()
    count, oldest = await notification_backlog(container.engine, now)
    return Response(exposition((count, oldest, now)), media_type=CONTENT_TYPE)
