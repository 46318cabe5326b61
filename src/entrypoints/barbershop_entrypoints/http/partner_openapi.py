"""The partner operations in ``/schema``: the seed's request and answers, exactly.

The handlers read the raw body (so a bad body gets the contract's ``400 {"error": …}``
and not Litestar's own validation error), which leaves Litestar nothing to generate a
request schema from; the operation classes here put the contract's schema in instead.
The examples of the errors are rendered by the same code the server answers with: the
core's parser and :func:`barbershop_entrypoints.http.partner_errors.refusal_for`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import attrs
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from barbershop_core.errors import (
    IdempotencyInFlight,
    IdempotencyKeyReused,
    ValidationError,
)
from barbershop_core.policies import PromoPolicy
from barbershop_core.use_cases.promo import PURCHASE_NAME_MAX, parse_promo_registration
from barbershop_core.values import Email, FullName
from barbershop_entrypoints.http.openapi import PARTNER_KEY
from barbershop_entrypoints.http.partner_errors import (
    INTERNAL,
    NO_KEY,
    TEMPORARY,
    WRONG_KEY,
    refusal_for,
)

PARTNER_SECURITY: Final[list[dict[str, list[str]]]] = [{PARTNER_KEY: []}]
MAX_PURCHASES: Final = PromoPolicy().max_purchases
MAX_BULK: Final = 1000
PRICE_LIMIT: Final = 100_000_000
E164_PATTERN: Final = r"^\+[1-9][0-9]{6,14}$"
PRINTABLE_TEXT: Final = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
"""Not blank, no control characters. The server also refuses the other characters Unicode
does not print (format, private-use, unassigned); a regex without ``\\p{…}`` cannot say so."""
IDEMPOTENCY_KEY_PATTERN: Final = r"^[ -~]*[!-~][ -~]*$"
"""Printable ASCII, not blank (what an HTTP header can carry safely)."""

MALFORMED_JSON: Final = "Тело запроса не является корректным JSON"
EMPTY_BODY: Final = "Пустое тело запроса: ожидается JSON"
NOT_JSON: Final = "Тело запроса должно быть в формате JSON (Content-Type: application/json)"
NOT_AN_ARRAY: Final = "Тело запроса должно быть JSON-массивом участников"
NO_PARTICIPANTS: Final = "Нужен хотя бы один участник"
TOO_MANY_PARTICIPANTS: Final = f"Не больше {MAX_BULK} участников в одном запросе"


# --- answers -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PartnerClientId:
    """The registered (or already known) client."""

    client_id: int


@attrs.frozen(kw_only=True)
class PartnerError:
    """Why the request, or one participant of a bulk request, was refused (Russian)."""

    error: str


@attrs.frozen(kw_only=True)
class PartnerBulkResults:
    """One result per participant, in the order of the request."""

    results: list[PartnerClientId | PartnerError]


# --- the request -------------------------------------------------------------------------


def _participant_schema() -> Schema:
    purchase = Schema(
        type=OpenAPIType.OBJECT,
        required=["name", "price"],
        properties={
            "name": Schema(
                type=OpenAPIType.STRING,
                min_length=1,
                max_length=PURCHASE_NAME_MAX,
                pattern=PRINTABLE_TEXT,
                description="Название товара. Обязательный параметр. Пробелы по краям и повторные пробелы убираются.",
                examples=["Телевизор Samsung"],
            ),
            "price": Schema(
                type=OpenAPIType.NUMBER,
                exclusive_minimum=0,
                exclusive_maximum=PRICE_LIMIT,
                multiple_of=0.01,
                description=(
                    "Цена товара в рублях. Обязательный параметр. Положительное число меньше 100 000 000, "
                    "не более двух знаков после запятой (numeric(10,2)); строка не принимается."
                ),
                examples=[40000.00],
            ),
        },
    )
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["fio", "phone", "email", "purchases"],
        description=(
            "Участник акции. Неизвестные поля игнорируются (совместимость с будущими версиями партнёра); "
            "ошибка в любом поле — 400 с сообщением об этом поле."
        ),
        properties={
            "fio": Schema(
                type=OpenAPIType.STRING,
                min_length=1,
                max_length=FullName.MAX_LENGTH,
                pattern=PRINTABLE_TEXT,
                description="ФИО клиента. Обязательный параметр. Пробелы по краям и повторные пробелы убираются.",
                examples=["Иванов Иван Иванович"],
            ),
            "phone": Schema(
                type=OpenAPIType.STRING,
                pattern=E164_PATTERN,
                max_length=16,
                description=(
                    "Номер телефона клиента. Обязательный параметр. Должен быть в формате E.164 и существовать "
                    "в плане нумерации своей страны (например, +79111234567)."
                ),
                examples=["+79111234567"],
            ),
            "email": Schema(
                type=OpenAPIType.STRING,
                format=OpenAPIFormat.EMAIL,
                max_length=Email.MAX_LENGTH,
                description="Email клиента. Обязательный параметр. Должен быть валидным email-адресом.",
                examples=["ivanov@mail.ru"],
            ),
            "purchases": Schema(
                type=OpenAPIType.ARRAY,
                min_items=1,
                max_items=MAX_PURCHASES,
                items=purchase,
                description=f"Покупки в рамках акции, от 1 до {MAX_PURCHASES}. Обязательный параметр.",
            ),
        },
    )


PARTICIPANT_EXAMPLE: Final[dict[str, Any]] = {
    "fio": "Иванов Иван Иванович",
    "phone": "+79111234567",
    "email": "ivanov@mail.ru",
    "purchases": [{"name": "Телевизор Samsung", "price": 40000.00}],
}


def _example(name: str, value: Any, summary: str | None = None) -> Example:
    return Example(id=name, summary=summary or name, value=value)


def _json_body(schema: Schema, description: str, examples: dict[str, Example | Reference]) -> RequestBody:
    return RequestBody(
        required=True,
        description=description,
        content={"application/json": OpenAPIMediaType(schema=schema, examples=examples)},
    )


@dataclass
class RegisterClientOperation(Operation):
    """``POST /api/register-client``: the request body of the seed's contract."""

    def __post_init__(self) -> None:
        self.request_body = _json_body(
            _participant_schema(),
            "Участник акции с покупками",
            {"participant": _example("participant", PARTICIPANT_EXAMPLE, "Участник с одной покупкой")},
        )


@dataclass
class RegisterClientsOperation(Operation):
    """``POST /api/register-clients``: an array of the same participants."""

    def __post_init__(self) -> None:
        schema = Schema(
            type=OpenAPIType.ARRAY,
            min_items=1,
            max_items=MAX_BULK,
            items=_participant_schema(),
            description=f"От 1 до {MAX_BULK} участников; каждый проверяется и регистрируется отдельно.",
        )
        second = PARTICIPANT_EXAMPLE | {"phone": "+79217654321", "email": "petrov@mail.ru", "fio": "Петров Пётр"}
        self.request_body = _json_body(
            schema,
            "Участники акции: JSON-массив (`application/json`) или поток по участнику на строку "
            "(`application/x-ndjson`)",
            {"two": _example("two", [PARTICIPANT_EXAMPLE, second], "Два участника")},
        )
        assert self.request_body.content is not None
        self.request_body.content[NDJSON] = OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, description=NDJSON_REQUEST),
            example=_ndjson([PARTICIPANT_EXAMPLE, second]),
        )
        answer = (self.responses or {}).get("200")
        if isinstance(answer, OpenAPIResponse) and answer.content is not None:
            answer.content[NDJSON] = OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, description=NDJSON_ANSWER),
                example=_ndjson([{"client_id": 12345}, {"error": _parse_error(_without("phone"))}]),
            )


NDJSON: Final = "application/x-ndjson"
MAX_LINES: Final = 100_000
"""The most participant lines one NDJSON stream may carry."""
NDJSON_REQUEST: Final = (
    f"Поток для больших объёмов: по одному участнику (JSON-объект в формате `POST /api/register-client`) "
    f"на строку, до {MAX_LINES} строк; пустые строки пропускаются. Сервер обрабатывает поток пачками "
    f"по {MAX_BULK} по мере поступления и отвечает тоже потоком, не дожидаясь конца тела. С "
    "`Idempotency-Key` строка i (с нуля) получает ключ `<ключ>/<i>`: повтор потока отвечает теми же "
    "результатами."
)
NDJSON_ANSWER: Final = (
    'Ответ на поток: по строке на каждую строку запроса, в том же порядке — `{"client_id": …}` или '
    f'`{{"error": …}}`. После {MAX_LINES} строк поток заканчивается строкой с ошибкой.'
)


def _ndjson(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


# --- answers in the document -------------------------------------------------------------


def _parse_error(payload: object) -> str:
    try:
        parse_promo_registration(payload)
    except ValidationError as exc:
        return exc.message
    raise AssertionError("the example payload is valid")  # pragma: no cover - a broken example


def _without(name: str) -> dict[str, Any]:
    return {key: value for key, value in PARTICIPANT_EXAMPLE.items() if key != name}


def _body_errors() -> list[Example]:
    cases: list[tuple[str, str, str]] = [
        ("missing_phone", "Нет телефона", _parse_error(_without("phone"))),
        ("missing_fio", "Нет ФИО", _parse_error(_without("fio"))),
        ("bad_phone", "Телефон не в E.164", _parse_error(PARTICIPANT_EXAMPLE | {"phone": "89111234567"})),
        ("bad_email", "Некорректный email", _parse_error(PARTICIPANT_EXAMPLE | {"email": "ivanov@"})),
        ("no_purchases", "Нет покупок", _parse_error(PARTICIPANT_EXAMPLE | {"purchases": []})),
        (
            "bad_price",
            "Цена не положительна",
            _parse_error(PARTICIPANT_EXAMPLE | {"purchases": [{"name": "Телевизор", "price": Decimal(0)}]}),
        ),
        ("malformed_json", "Тело не JSON", MALFORMED_JSON),
        ("not_an_object", "Тело не объект", _parse_error([PARTICIPANT_EXAMPLE])),
    ]
    return [_example(name, {"error": message}, summary) for name, summary, message in cases]


def _error(status: int, description: str, examples: list[Example]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=PartnerError, description=description, examples=examples, generate_examples=False
        )
    }


def _message(exc: BaseException) -> str:
    return refusal_for(exc).message


def _common_errors(
    bad_request: list[Example], bad_request_description: str, *, idempotency: bool
) -> dict[int, ResponseSpec]:
    conflicts = {
        **_error(
            409,
            "Запрос с этим Idempotency-Key ещё выполняется; повторите позже (см. Retry-After).",
            [_example("in_flight", {"error": _message(IdempotencyInFlight())}, "Ещё выполняется")],
        ),
        **_error(
            422,
            "Этот Idempotency-Key уже использован с другим телом запроса.",
            [_example("key_reused", {"error": _message(IdempotencyKeyReused())}, "Ключ с другим телом")],
        ),
    }
    return {
        **_error(400, bad_request_description, bad_request),
        **_error(
            401,
            "Unauthorized. Нет ключа партнёра, ключ неверен или отозван.",
            [
                _example("no_key", {"error": NO_KEY}, "Нет ключа"),
                _example("wrong_key", {"error": WRONG_KEY}, "Ключ неверен или отозван"),
            ],
        ),
        **(conflicts if idempotency else {}),
        **_error(
            500,
            "Internal Server Error. Ошибка на сервере; подробности не раскрываются. Запрос можно повторить.",
            [
                _example("internal", {"error": INTERNAL}, "Внутренняя ошибка"),
                _example("temporary", {"error": TEMPORARY}, "База данных недоступна (см. Retry-After)"),
            ],
        ),
    }


REGISTER_CLIENT_RESPONSES: Final = {
    200: ResponseSpec(
        data_container=PartnerClientId,
        description=(
            "OK. Возвращает ID зарегистрированного клиента. Тот же телефон — тот же клиент, покупки добавляются. "
            "Повтор с тем же Idempotency-Key (24 часа) или то же тело без ключа (5 минут) возвращает тот же "
            "ответ и ничего не добавляет (заголовок `Idempotent-Replayed: true`)."
        ),
        examples=[_example("registered", {"client_id": 12345}, "Клиент зарегистрирован")],
        generate_examples=False,
    ),
    **_common_errors(
        _body_errors(),
        "Bad Request. Неверный формат запроса или отсутствуют обязательные параметры: одна конкретная причина.",
        idempotency=True,
    ),
}

REGISTER_CLIENTS_RESPONSES: Final = {
    200: ResponseSpec(
        data_container=PartnerBulkResults,
        description=(
            "Результат по каждому участнику в порядке запроса: `client_id` или `error` с причиной. "
            "Ошибка одного участника не мешает остальным."
        ),
        examples=[
            _example(
                "mixed",
                {"results": [{"client_id": 12345}, {"error": _parse_error(_without("phone"))}]},
                "Первый зарегистрирован, у второго нет телефона",
            )
        ],
        generate_examples=False,
    ),
    **_common_errors(
        [
            _example("not_an_array", {"error": NOT_AN_ARRAY}, "Тело не массив"),
            _example("too_many", {"error": TOO_MANY_PARTICIPANTS}, "Больше 1000 участников"),
            _example("malformed_json", {"error": MALFORMED_JSON}, "Тело не JSON"),
        ],
        f"Bad Request. Тело не JSON-массив, пустое или больше {MAX_BULK} участников.",
        idempotency=False,
    ),
}
