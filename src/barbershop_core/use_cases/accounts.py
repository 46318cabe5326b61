"""Who may use the system: managers (login + password) and partners (API key)."""

from __future__ import annotations

import secrets

import attrs

from barbershop_core.errors import InvalidCredentials, LoginTaken, NotFound, ValidationError
from barbershop_core.model import Manager, Partner
from barbershop_core.ports import (
    Clock,
    KeyDigester,
    PasswordGenerator,
    PasswordHasher,
    SessionReader,
    UniqueViolation,
    UnitOfWorkFactory,
)
from barbershop_core.values import Login

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
API_KEY_PREFIX = "bsk_"


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Пароль должен быть не короче {MIN_PASSWORD_LENGTH} символов", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"Пароль должен быть не длиннее {MAX_PASSWORD_LENGTH} символов", field="password")
    if password.strip() != password or not password.isprintable():
        raise ValidationError("Пароль не должен начинаться или заканчиваться пробелом", field="password")


@attrs.frozen
class ManagerDeps:
    """The ports of the managers' use cases."""

    uow_factory: UnitOfWorkFactory
    hasher: PasswordHasher
    passwords: PasswordGenerator
    clock: Clock


@attrs.frozen
class PartnerDeps:
    """The ports of the partners' use cases."""

    uow_factory: UnitOfWorkFactory
    digester: KeyDigester
    clock: Clock
    sessions: SessionReader
    """The key check of every partner request: one statement, no transaction."""


@attrs.frozen
class CreateManager:
    login: str
    password: str | None = attrs.field(repr=False)
    """None: generate one, shown once; the manager must change it."""
    display_name: str | None = None


@attrs.frozen
class AuthenticateManager:
    login: str
    password: str = attrs.field(repr=False)


@attrs.frozen
class GetManager:
    manager_id: int


@attrs.frozen
class ChangeManagerPassword:
    manager_id: int
    current_password: str = attrs.field(repr=False)
    new_password: str = attrs.field(repr=False)


@attrs.frozen
class EndManagerSessions:
    manager_id: int


@attrs.frozen
class DeactivateManager:
    login: str


@attrs.frozen
class CountManagers:
    """Takes nothing: the one use-case shape still passes a command."""


@attrs.frozen
class CreatePartner:
    name: str


@attrs.frozen
class RevokePartner:
    name: str


@attrs.frozen
class AuthenticatePartner:
    api_key: str = attrs.field(repr=False)


@attrs.frozen
class NewManager:
    manager: Manager
    generated_password: str | None
    """Set when no password was given: show it once, the manager must change it."""


async def create_manager(command: CreateManager, deps: ManagerDeps) -> NewManager:
    parsed = Login.parse(command.login)
    generated = None
    password = command.password
    if password is None:
        generated = password = deps.passwords.generate()
    else:
        check_new_password(password)
    manager = Manager(
        login=parsed,
        display_name=(command.display_name or parsed.value).strip()[:100],
        password_hash=await deps.hasher.hash(password),
        created_at=deps.clock.now(),
        must_change_password=generated is not None,
    )
    try:
        async with deps.uow_factory() as uow:
            if await uow.managers.get_by_login(parsed.value) is not None:
                raise LoginTaken()
            await uow.managers.add(manager)
            await uow.commit()
    except UniqueViolation as exc:
        raise LoginTaken() from exc
    return NewManager(manager, generated)


async def authenticate_manager(command: AuthenticateManager, deps: ManagerDeps) -> Manager:
    """Verify a manager's password; upgrade its hash when the parameters have grown.

    The slow hash runs with no transaction open: a flood of logins holds no lock.
    """
    login, password, hasher = command.login, command.password, deps.hasher
    async with deps.uow_factory() as uow:
        manager = await uow.managers.get_by_login(login.strip())
    if manager is None or not manager.is_active:
        # Spend the same time as a real check, so timing does not reveal logins.
        await hasher.hash(password)
        raise InvalidCredentials()
    if not await hasher.verify(manager.password_hash, password):
        raise InvalidCredentials()
    if hasher.needs_rehash(manager.password_hash):
        await _replace_hash(manager, manager.password_hash, await hasher.hash(password), deps.uow_factory)
    return manager


async def _replace_hash(manager: Manager, verified_hash: str, new_hash: str, uow_factory: UnitOfWorkFactory) -> None:
    """Store ``new_hash`` unless the password changed since ``verified_hash`` was checked."""
    async with uow_factory() as uow:
        current = await uow.managers.get(manager.id)
        if current is None or current.password_hash != verified_hash:
            raise InvalidCredentials()
        current.password_hash = new_hash
        await uow.managers.save(current)
        await uow.commit()
    manager.password_hash = new_hash


async def get_manager(command: GetManager, deps: ManagerDeps) -> Manager:
    async with deps.uow_factory() as uow:
        manager = await uow.managers.get(command.manager_id)
    if manager is None or not manager.is_active:
        raise NotFound("Менеджер не найден")
    return manager


async def change_manager_password(command: ChangeManagerPassword, deps: ManagerDeps) -> Manager:
    """The current password is verified before the new one is hashed (a wrong guess costs
    one hash, not two), neither inside a transaction; every session of the manager ends."""
    manager_id, current_password, new_password = command.manager_id, command.current_password, command.new_password
    uow_factory, hasher = deps.uow_factory, deps.hasher
    check_new_password(new_password)
    if new_password == current_password:
        raise ValidationError("Новый пароль должен отличаться от текущего", field="new_password")
    async with uow_factory() as uow:
        manager = await uow.managers.get(manager_id)
    if manager is None or not await hasher.verify(manager.password_hash, current_password):
        raise InvalidCredentials()
    new_hash = await hasher.hash(new_password)
    async with uow_factory() as uow:
        current = await uow.managers.get(manager_id)
        if current is None or current.password_hash != manager.password_hash:
            raise InvalidCredentials()  # changed meanwhile: the verified password is no longer current
        current.password_hash = new_hash
        current.must_change_password = False
        current.end_sessions()
        await uow.managers.save(current)
        await uow.commit()
    return current


async def end_manager_sessions(command: EndManagerSessions, deps: ManagerDeps) -> None:
    """Logout: every token and page session of the manager stops working at once."""
    async with deps.uow_factory() as uow:
        manager = await uow.managers.get(command.manager_id)
        if manager is None:
            raise NotFound("Менеджер не найден")
        manager.end_sessions()
        await uow.managers.save(manager)
        await uow.commit()


async def deactivate_manager(command: DeactivateManager, deps: ManagerDeps) -> Manager:
    """The manager can no longer log in, and every session of theirs ends at once."""
    login = command.login
    async with deps.uow_factory() as uow:
        manager = await uow.managers.get_by_login(login.strip())
        if manager is None:
            raise NotFound(f"Менеджер «{login.strip()}» не найден")
        manager.deactivate()
        await uow.managers.save(manager)
        await uow.commit()
    return manager


async def count_managers(command: CountManagers, deps: ManagerDeps) -> int:
    async with deps.uow_factory() as uow:
        return await uow.managers.count()


@attrs.frozen
class NewPartner:
    partner: Partner
    api_key: str
    """Shown once; only its digest is stored."""


def _partner_name(name: str) -> str:
    text = name.strip()
    if not 2 <= len(text) <= 50 or not all(ch.isalnum() or ch in "-_." for ch in text):
        raise ValidationError("Имя партнёра: 2–50 символов, буквы, цифры и - _ .", field="name")
    return text


async def create_partner(command: CreatePartner, deps: PartnerDeps) -> NewPartner:
    uow_factory, digester, clock = deps.uow_factory, deps.digester, deps.clock
    partner_name = _partner_name(command.name)
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    partner = Partner(name=partner_name, key_digest=digester.digest(api_key), created_at=clock.now())
    try:
        async with uow_factory() as uow:
            if await uow.partners.get_by_name(partner_name) is not None:
                raise ValidationError("Партнёр с таким именем уже есть", field="name")
            await uow.partners.add(partner)
            await uow.commit()
    except UniqueViolation as exc:
        raise ValidationError("Партнёр с таким именем уже есть", field="name") from exc
    return NewPartner(partner, api_key)


async def revoke_partner(command: RevokePartner, deps: PartnerDeps) -> Partner:
    async with deps.uow_factory() as uow:
        partner = await uow.partners.get_by_name(command.name.strip())
        if partner is None:
            raise NotFound("Партнёр не найден")
        if partner.revoked_at is None:
            partner.revoked_at = deps.clock.now()
            await uow.partners.save(partner)
            await uow.commit()
    return partner


async def authenticate_partner(command: AuthenticatePartner, deps: PartnerDeps) -> Partner:
    api_key = command.api_key
    if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
        raise InvalidCredentials("Неверный ключ партнёра")
    partner = await deps.sessions.partner_by_key_digest(deps.digester.digest(api_key))
    if partner is None or not partner.is_active:
        raise InvalidCredentials("Неверный ключ партнёра")
    return partner
