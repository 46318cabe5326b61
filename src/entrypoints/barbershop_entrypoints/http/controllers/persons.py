"""Persons: check a phone (step 3), find by phone, create one alone (step 5)."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import Body, Parameter

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone, LoginTaken, PersonExists
from barbershop_core.use_cases.clients import (
    CheckPhone,
    ClientDeps,
    CreatePerson,
    FindByPhone,
    check_phone,
    create_person,
    find_persons_by_phone,
)
from barbershop_entrypoints.http.convert import person_body, to_body
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, MANAGER_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.params import MAX_PHONE_INPUT
from barbershop_entrypoints.http.problems import example_document
from barbershop_entrypoints.http.schemas import PersonCreateRequest, PersonOut, PhoneCheckOut, PhoneCheckRequest

_CHECK = "/api/persons/check"
_PERSONS = "/api/persons"

_PERSON_EXAMPLE = {
    "id": 41,
    "phone": "+79111234567",
    "first_name": "Иван",
    "login": "+79111234567",
    "created_at": "2025-11-22T10:15:00Z",
    "must_change_password": True,
    "temporary_password_expires_at": "2025-11-25T10:15:00Z",
}

PhoneQuery = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=MAX_PHONE_INPUT,
        description="Телефон в любом привычном виде; сравнивается после приведения к E.164",
        examples=[example("phone", "+79111234567")],
    ),
]


@post(
    _CHECK,
    status_code=200,
    tags=["persons"],
    summary="Проверить телефон (шаг 3)",
    description="Нормализует телефон и сообщает, известен ли он: `person_id` и `client_id`, если есть.",
    responses={
        **ok(
            PhoneCheckOut,
            "Результат проверки",
            [
                example(
                    "known",
                    {"phone": "+79111234567", "exists": True, "person_id": 41, "client_id": 42},
                    "Телефон уже есть",
                ),
                example(
                    "unknown",
                    {"phone": "+79111234567", "exists": False, "person_id": None, "client_id": None},
                    "Новый телефон",
                ),
            ],
        ),
        **problems(
            _CHECK,
            (*BODY_PROBLEMS, *MANAGER_PROBLEMS),
            examples={422: [example("invalid_phone", example_document(InvalidPhone(), _CHECK))]},
        ),
    },
)
async def check_person_phone(
    data: Annotated[PhoneCheckRequest, Body(examples=[example("check", {"phone": "8 911 123-45-67"})])],
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
) -> PhoneCheckOut:
    checked = await check_phone(CheckPhone(data.phone, context), clients)
    return to_body(PhoneCheckOut, checked)


@get(
    _PERSONS,
    tags=["persons"],
    summary="Найти персону по телефону",
    description="Список из нуля или одной персоны с этим телефоном.",
    responses={
        **ok(list[PersonOut], "Найденные персоны", [example("found", [_PERSON_EXAMPLE]), example("none", [])]),
        **problems(
            _PERSONS,
            (400, 422, *MANAGER_PROBLEMS),
            examples={422: [example("invalid_phone", example_document(InvalidPhone(), _PERSONS))]},
        ),
    },
)
async def list_persons(phone: PhoneQuery, clients: NamedDependency[ClientDeps]) -> list[PersonOut]:
    found = await find_persons_by_phone(FindByPhone(phone), clients)
    return [person_body(person) for person in found]


@post(
    _PERSONS,
    status_code=201,
    tags=["persons"],
    summary="Создать персону (шаг 5)",
    description="Только персона, без клиента и без уведомления. Логин по умолчанию — телефон.",
    responses={
        **ok(
            PersonOut,
            "Персона создана",
            [
                example(
                    "created", _PERSON_EXAMPLE | {"must_change_password": False, "temporary_password_expires_at": None}
                )
            ],
            status=201,
        ),
        **problems(
            _PERSONS,
            (*BODY_PROBLEMS, 409, *MANAGER_PROBLEMS),
            examples={
                409: [
                    example("person_exists", example_document(PersonExists(person_id=41, client_id=42), _PERSONS)),
                    example("login_taken", example_document(LoginTaken(), _PERSONS)),
                ],
                422: [example("invalid_phone", example_document(InvalidPhone(), _PERSONS))],
            },
        ),
    },
)
async def create_person_alone(
    data: Annotated[
        PersonCreateRequest, Body(examples=[example("person", {"phone": "+79111234567", "first_name": "Иван"})])
    ],
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
) -> PersonOut:
    person = await create_person(
        CreatePerson(phone=data.phone, first_name=data.first_name, context=context, login=data.login), clients
    )
    return person_body(person)
