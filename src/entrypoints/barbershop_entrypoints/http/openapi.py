"""The OpenAPI document (``/schema``, ``/schema/openapi.json``): config and response helpers.

Every operation lists every status it can answer, each problem status with the
:class:`~entrypoints.http.problems.Problem` schema under ``application/problem+json`` and
examples rendered by the same mapping the server uses at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, Example, SecurityScheme, Tag

from barbershop_entrypoints.http.problems import PROBLEM_MEDIA_TYPE, Problem, default_example, describe

BEARER: Final = "ManagerToken"
CLIENT_BEARER: Final = "ClientToken"
PARTNER_KEY: Final = "PartnerApiKey"
SIGNATURE: Final = "ProviderSignature"

MANAGER_SECURITY: Final[list[dict[str, list[str]]]] = [{BEARER: []}]
CLIENT_SECURITY: Final[list[dict[str, list[str]]]] = [{CLIENT_BEARER: []}]

MANAGER_PROBLEMS: Final = (401, 403, 500, 503)
"""Every manager operation: no token (401), temporary password (403), and the server's own."""
BODY_PROBLEMS: Final = (400, 413, 415, 422)
"""Every operation that takes a JSON body."""


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="barbershop-core API",
        version=version,
        description=(
            "Регистрация клиентов барбершопа (UC04) и уведомления. Ошибки — RFC 9457 problem details "
            "(`application/problem+json`) со стабильным `code` и русскими `title` / `detail`."
        ),
        path="/schema",
        render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin(), YamlRenderPlugin()],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Токен менеджера из `POST /api/auth/login`",
                ),
                CLIENT_BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Токен клиента из `POST /api/client/auth/login` (токен менеджера здесь не действует)",
                ),
                PARTNER_KEY: SecurityScheme(
                    type="apiKey",
                    name="X-API-Key",
                    security_scheme_in="header",
                    description="Ключ партнёра (или `Authorization: Bearer <ключ>`)",
                ),
                SIGNATURE: SecurityScheme(
                    type="apiKey",
                    name="X-Signature",
                    security_scheme_in="header",
                    description="`sha256=<hex HMAC-SHA256 тела запроса с секретом канала>`",
                ),
            }
        ),
        tags=[
            Tag(name="auth", description="Вход менеджера"),
            Tag(name="registration", description="UC04 целиком"),
            Tag(name="persons", description="Персоны: шаги 3 и 5"),
            Tag(name="clients", description="Клиенты: шаг 6, карточка (A1.1), изменение (A1.2)"),
            Tag(name="notifications", description="Уведомления: шаг 7, A4, A7, отчёты о доставке"),
            Tag(name="reference", description="Справочники каналов и шаблонов"),
            Tag(name="health", description="Живость и готовность"),
            Tag(name="client", description="Личный кабинет клиента: вход, смена пароля, данные, согласия"),
        ],
    )


def example(name: str, value: Any, summary: str | None = None) -> Example:
    return Example(id=name, summary=summary or name, value=value)


def ok(data: Any, description: str, examples: Sequence[Example] = (), *, status: int = 200) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=data, description=description, examples=list(examples) or None, generate_examples=False
        )
    }


def problems(
    instance: str,
    statuses: Iterable[int],
    examples: Mapping[int, Sequence[Example]] | None = None,
    descriptions: Mapping[int, str] | None = None,
) -> dict[int, ResponseSpec]:
    """The problem responses of one operation; ``examples`` replace the default one of a status."""
    specific = examples or {}
    described = descriptions or {}
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=described.get(status, describe(status)),
            media_type=PROBLEM_MEDIA_TYPE,
            examples=list(specific.get(status, ()))
            or [example(f"problem_{status}", default_example(status, instance))],
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }
