"""Managers (login + password) and partners (API key)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from barbershop_core.errors import InvalidCredentials, LoginTaken, NotFound, ValidationError
from barbershop_core.model import Manager
from barbershop_core.ports import UniqueViolation
from barbershop_core.use_cases.accounts import (
    API_KEY_PREFIX,
    AuthenticateManager,
    AuthenticatePartner,
    ChangeManagerPassword,
    CountManagers,
    CreateManager,
    CreatePartner,
    DeactivateManager,
    EndManagerSessions,
    GetManager,
    RevokePartner,
    authenticate_manager,
    authenticate_partner,
    change_manager_password,
    count_managers,
    create_manager,
    create_partner,
    deactivate_manager,
    end_manager_sessions,
    get_manager,
    revoke_partner,
)
from barbershop_core.values import Login
from tests.conftest import World
from tests.fakes import FakeHasher
from tests.unit.support import rows

PASSWORD = "correct-horse-1"


async def _manager(world: World, login: str = "anna", password: str | None = PASSWORD, **options: str) -> Manager:
    created = await create_manager(CreateManager(login, password, **options), world.managers())
    return created.manager


async def _login(world: World, login: str = "anna", password: str = PASSWORD) -> Manager:
    return await authenticate_manager(AuthenticateManager(login, password), world.managers())


async def _change(world: World, current: str, new: str, manager_id: int = 1) -> Manager:
    return await change_manager_password(ChangeManagerPassword(manager_id, current, new), world.managers())


# --- managers -------------------------------------------------------------------------------


async def test_creating_a_manager_with_a_password_stores_only_its_hash(world: World) -> None:
    created = await create_manager(CreateManager("anna", PASSWORD), world.managers())

    [stored] = rows(world, "managers")
    assert created.generated_password is None
    assert stored == created.manager
    assert (stored.login, stored.display_name, stored.created_at) == (Login("anna"), "anna", world.clock.now())
    assert stored.password_hash == await world.hasher.hash(PASSWORD)
    assert stored.must_change_password is False
    assert PASSWORD not in repr(stored)


async def test_creating_a_manager_with_a_display_name_keeps_it_trimmed(world: World) -> None:
    manager = await _manager(world, display_name="  Анна Петрова  ")

    assert manager.display_name == "Анна Петрова"


async def test_creating_a_manager_without_a_password_generates_one_that_must_be_changed(world: World) -> None:
    created = await create_manager(CreateManager("anna", None), world.managers())

    assert created.generated_password == world.passwords.issued[0]
    assert created.manager.must_change_password is True
    assert created.manager.password_hash == await world.hasher.hash(world.passwords.issued[0])
    assert (await _login(world, password=world.passwords.issued[0])).id == created.manager.id


async def test_creating_a_manager_with_a_taken_login_answers_login_taken(world: World) -> None:
    await _manager(world)

    with pytest.raises(LoginTaken):
        await _manager(world, password="another-password")

    assert len(rows(world, "managers")) == 1


async def test_a_login_taken_concurrently_answers_login_taken(world: World) -> None:
    world.db.fail("managers.add", UniqueViolation("manager_login"))

    with pytest.raises(LoginTaken):
        await _manager(world)


@pytest.mark.parametrize("login", ["an", "анна", "a b c", "x" * 65])
async def test_creating_a_manager_with_an_invalid_login_answers_validation_error(world: World, login: str) -> None:
    with pytest.raises(ValidationError) as error:
        await _manager(world, login)

    assert error.value.field == "login"
    assert rows(world, "managers") == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short-9", "Пароль должен быть не короче 10 символов"),
        ("x" * 129, "Пароль должен быть не длиннее 128 символов"),
        (" leading-space", "Пароль не должен начинаться или заканчиваться пробелом"),
        ("trailing-space ", "Пароль не должен начинаться или заканчиваться пробелом"),
    ],
)
async def test_creating_a_manager_with_a_weak_password_answers_validation_error(
    world: World, password: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        await _manager(world, password=password)

    assert (error.value.message, error.value.field) == (message, "password")
    assert world.hasher.hashed == []


async def test_a_manager_with_the_right_password_is_authenticated(world: World) -> None:
    created = await _manager(world)

    manager = await _login(world, "  anna ")

    assert manager.id == created.id


async def test_a_wrong_password_answers_invalid_credentials(world: World) -> None:
    await _manager(world)

    with pytest.raises(InvalidCredentials) as error:
        await _login(world, password="wrong-password")

    assert (error.value.code, error.value.message) == ("invalid_credentials", "Неверный логин или пароль")


async def test_an_unknown_login_answers_invalid_credentials_after_spending_a_hash(world: World) -> None:
    with pytest.raises(InvalidCredentials):
        await _login(world, "nobody", "some-password")

    assert world.hasher.hashed == ["some-password"]


async def test_a_deactivated_manager_cannot_log_in(world: World) -> None:
    await _deactivate_manager(world)

    with pytest.raises(InvalidCredentials):
        await _login(world)


async def test_logging_in_rehashes_the_password_when_the_hash_parameters_grew(world: World) -> None:
    manager = await _manager(world)
    world.hasher.rehash.add(manager.password_hash)
    commits, hashes = world.db.commits, len(world.hasher.hashed)

    await _login(world)

    assert world.db.commits == commits + 1
    assert world.hasher.hashed[hashes:] == [PASSWORD]


async def test_logging_in_with_a_current_hash_writes_nothing(world: World) -> None:
    await _manager(world)
    commits = world.db.commits

    await _login(world)

    assert world.db.commits == commits


async def test_changing_the_password_stores_the_new_hash_and_clears_must_change(world: World) -> None:
    created = await create_manager(CreateManager("anna", None), world.managers())
    assert created.generated_password is not None

    manager = await _change(world, created.generated_password, "brand-new-pass")

    [stored] = rows(world, "managers")
    assert stored == manager
    assert stored.password_hash == await world.hasher.hash("brand-new-pass")
    assert stored.must_change_password is False
    with pytest.raises(InvalidCredentials):
        await _login(world, password=created.generated_password)


async def test_changing_the_password_with_a_wrong_current_one_answers_invalid_credentials(world: World) -> None:
    await _manager(world)

    with pytest.raises(InvalidCredentials):
        await _change(world, "not-the-password", "brand-new-pass")

    assert (await _login(world)).id == 1


async def test_changing_the_password_of_an_unknown_manager_answers_invalid_credentials(world: World) -> None:
    with pytest.raises(InvalidCredentials):
        await _change(world, PASSWORD, "brand-new-pass", manager_id=8)


async def test_the_new_password_must_differ_from_the_current_one(world: World) -> None:
    await _manager(world)

    with pytest.raises(ValidationError) as error:
        await _change(world, PASSWORD, PASSWORD)

    assert (error.value.message, error.value.field) == ("Новый пароль должен отличаться от текущего", "new_password")


async def test_the_new_password_follows_the_password_rules(world: World) -> None:
    await _manager(world)

    with pytest.raises(ValidationError) as error:
        await _change(world, PASSWORD, "short")

    assert error.value.message == "Пароль должен быть не короче 10 символов"


class TransactionWatchingHasher(FakeHasher):
    """Records how many units of work were open whenever it did slow work."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self._world = world
        self.open_while_hashing: list[int] = []

    async def hash(self, password: str) -> str:
        self.open_while_hashing.append(self._world.db.open_units)
        return await super().hash(password)

    async def verify(self, password_hash: str, password: str) -> bool:
        self.open_while_hashing.append(self._world.db.open_units)
        return await super().verify(password_hash, password)


@pytest.mark.parametrize("password", [PASSWORD, "wrong-password"])
@pytest.mark.parametrize("login", ["anna", "nobody"])
async def test_logging_in_hashes_with_no_transaction_open(world: World, login: str, password: str) -> None:
    manager = await _manager(world)
    world.hasher = TransactionWatchingHasher(world)
    world.hasher.rehash.add(manager.password_hash)  # the upgrade path hashes too

    with contextlib.suppress(InvalidCredentials):
        await _login(world, login, password)

    assert world.hasher.open_while_hashing
    assert set(world.hasher.open_while_hashing) == {0}


async def test_changing_the_password_verifies_the_current_one_before_hashing_the_new_one(world: World) -> None:
    await _manager(world)
    world.hasher = TransactionWatchingHasher(world)

    with pytest.raises(InvalidCredentials):
        await _change(world, "not-the-password", "brand-new-pass")
    assert world.hasher.hashed == []  # a wrong guess costs one verify, no hash
    await _change(world, PASSWORD, "brand-new-pass")

    assert world.hasher.hashed == ["brand-new-pass"]
    assert set(world.hasher.open_while_hashing) == {0}


async def test_a_password_change_logout_or_deactivation_each_end_every_session(world: World) -> None:
    created = await _manager(world)
    assert created.session_version == 0

    changed = await _change(world, PASSWORD, "brand-new-pass")
    assert changed.session_version == 1
    await end_manager_sessions(EndManagerSessions(created.id), world.managers())
    assert (await get_manager(GetManager(created.id), world.managers())).session_version == 2
    deactivated = await deactivate_manager(DeactivateManager(" anna "), world.managers())

    [stored] = rows(world, "managers")
    assert (stored.session_version, stored.is_active) == (3, False)
    assert deactivated == stored
    with pytest.raises(NotFound):
        await end_manager_sessions(EndManagerSessions(99), world.managers())
    with pytest.raises(NotFound) as unknown:
        await deactivate_manager(DeactivateManager("nobody"), world.managers())
    assert unknown.value.message == "Менеджер «nobody» не найден"


async def test_a_password_changed_meanwhile_is_not_overwritten_by_a_stale_check(world: World) -> None:
    await _manager(world)

    class ChangingMeanwhile(FakeHasher):
        async def hash(self, password: str) -> str:
            # Another request changes the password while this one hashes its new one.
            async with world.uow() as uow:
                stored = await uow.managers.get(1)
                assert stored is not None
                stored.password_hash = "changed-elsewhere"
                await uow.managers.save(stored)
                await uow.commit()
            return await super().hash(password)

    world.hasher = ChangingMeanwhile()
    with pytest.raises(InvalidCredentials):
        await _change(world, PASSWORD, "brand-new-pass")

    [stored] = rows(world, "managers")
    assert stored.password_hash == "changed-elsewhere"


async def test_getting_a_manager_answers_it_unless_unknown_or_inactive(world: World) -> None:
    created = await _manager(world)

    assert (await get_manager(GetManager(created.id), world.managers())).login == Login("anna")
    with pytest.raises(NotFound):
        await get_manager(GetManager(2), world.managers())
    await _deactivate_manager(world)
    with pytest.raises(NotFound):
        await get_manager(GetManager(created.id), world.managers())


async def test_counting_managers(world: World) -> None:
    assert await count_managers(CountManagers(), world.managers()) == 0
    await _manager(world)
    await _manager(world, "boris")

    assert await count_managers(CountManagers(), world.managers()) == 2


async def _deactivate_manager(world: World) -> None:
    if not rows(world, "managers"):
        await _manager(world)
    async with world.uow() as uow:
        manager = await uow.managers.get(1)
        assert manager is not None
        manager.is_active = False
        await uow.managers.save(manager)
        await uow.commit()


# --- partners -------------------------------------------------------------------------------


async def test_creating_a_partner_answers_a_key_shown_once_and_stores_only_its_digest(world: World) -> None:
    created = await create_partner(CreatePartner(" retail-1 "), world.partners())

    [stored] = rows(world, "partners")
    assert created.api_key.startswith(API_KEY_PREFIX)
    assert len(created.api_key) == len(API_KEY_PREFIX) + 43  # 32 random bytes, base64url
    assert (stored.name, stored.key_digest, stored.revoked_at) == (
        "retail-1",
        world.digester.digest(created.api_key),
        None,
    )
    assert created.api_key not in repr(stored)


async def test_two_partners_get_different_keys(world: World) -> None:
    first = await create_partner(CreatePartner("retail-1"), world.partners())
    second = await create_partner(CreatePartner("retail-2"), world.partners())

    assert first.api_key != second.api_key


@pytest.mark.parametrize("name", ["x", "y" * 51, "retail shop", "retail/1", ""])
async def test_creating_a_partner_with_a_bad_name_answers_validation_error(world: World, name: str) -> None:
    with pytest.raises(ValidationError) as error:
        await create_partner(CreatePartner(name), world.partners())

    assert error.value.message == "Имя партнёра: 2–50 символов, буквы, цифры и - _ ."


async def test_creating_a_partner_with_a_taken_name_answers_validation_error(world: World) -> None:
    await create_partner(CreatePartner("retail-1"), world.partners())

    with pytest.raises(ValidationError) as error:
        await create_partner(CreatePartner("retail-1"), world.partners())

    assert error.value.message == "Партнёр с таким именем уже есть"


async def test_a_partner_name_taken_concurrently_answers_validation_error(world: World) -> None:
    world.db.fail("partners.add", UniqueViolation("partner_name"))

    with pytest.raises(ValidationError) as error:
        await create_partner(CreatePartner("retail-1"), world.partners())

    assert error.value.message == "Партнёр с таким именем уже есть"


async def test_a_partner_is_authenticated_by_its_key(world: World) -> None:
    created = await create_partner(CreatePartner("retail-1"), world.partners())

    partner = await authenticate_partner(AuthenticatePartner(created.api_key), world.partners())

    assert partner == created.partner


@pytest.mark.parametrize("key", ["", "not-a-key", API_KEY_PREFIX + "unknown", API_KEY_PREFIX + "x" * 200])
async def test_a_wrong_partner_key_answers_invalid_credentials(world: World, key: str) -> None:
    await create_partner(CreatePartner("retail-1"), world.partners())

    with pytest.raises(InvalidCredentials) as error:
        await authenticate_partner(AuthenticatePartner(key), world.partners())

    assert error.value.message == "Неверный ключ партнёра"


async def test_a_revoked_partner_key_answers_invalid_credentials(world: World) -> None:
    created = await create_partner(CreatePartner("retail-1"), world.partners())

    revoked = await revoke_partner(RevokePartner("retail-1"), world.partners())

    assert revoked.revoked_at == world.clock.now()
    assert revoked.is_active is False
    with pytest.raises(InvalidCredentials):
        await authenticate_partner(AuthenticatePartner(created.api_key), world.partners())


async def test_revoking_a_partner_twice_keeps_the_first_revocation_time(world: World) -> None:
    await create_partner(CreatePartner("retail-1"), world.partners())
    first = await revoke_partner(RevokePartner("retail-1"), world.partners())
    world.clock.advance(timedelta(days=1))
    second = await revoke_partner(RevokePartner(" retail-1 "), world.partners())

    assert second.revoked_at == first.revoked_at
    [stored] = rows(world, "partners")
    assert stored.revoked_at == first.revoked_at


async def test_revoking_an_unknown_partner_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound) as error:
        await revoke_partner(RevokePartner("ghost"), world.partners())

    assert error.value.message == "Партнёр не найден"
